#!/usr/bin/env bash
# Round 3 of the fair fight's tuning (see RUN.md): moves the studies whose round-2 tuned value still sat at an
# edge of a range that the new frozen commit widens (with the fixed-width twins whose widths derive from them)
# to superseded/round2/, so that tune.sh tunes them again from scratch with 20 complete trials; all others stand.
set -eu
cd "$(dirname "$0")"
move() {  # setting unit...
  local setting=$1; shift
  mkdir -p superseded/round2/${setting}
  for unit in "$@"; do
    local d=tune/split_cifar10_${setting}_full-all/split_cifar10_${setting}_full-${unit}
    local to=superseded/round2/${setting}/$(basename "$d")
    if [ -d "$to" ]; then echo "kept ${setting} ${unit} (already moved once; this one is round 3's)"; continue; fi
    if [ -d "$d" ]; then mv "$d" "$to"; echo "moved ${setting} ${unit}"; fi
  done
}
# task-IL: grow_count = 212 of 1..256 (now 1..1024), with its twins; DER@w64 alpha = 8.31 of 0.001..10 (now ..100)
# and beta = 0.0126 of 0.01..10 (now 1e-4..10). Standing at protocol limits: A-GEM patterns_per_exp = 95 (its
# 100-per-experience memory budget); PackNet post_prune_epochs = 1 (the floor); consolidate@s finetune_epochs = 4
# and packnet-iso@w64 post_prune_epochs = 4 (the ceiling: below the benchmark's 5 epochs).
move task_il neuro-grow-prune fixed-final_neuro-grow-prune fixed-max_neuro-grow-prune der_w64
# every LwF study: its temperature range is now log-scaled, and Optuna refuses to resume a study whose parameter
# changed its log setting (a linear 0.1..8 range put any low temperature at the edge: 0.25 in class-IL)
move task_il lwf lwf_w16 lwf_w64
# class-IL: LwF temperature = 0.25 of the linear 0.1..8 (now log 0.01..10). finetune_epochs = 0 is the floor.
move class_il lwf lwf_w16 lwf_w64
rm -f tune/split_cifar10_task_il_full-all/tuned.toml tune/split_cifar10_class_il_full-all/tuned.toml
