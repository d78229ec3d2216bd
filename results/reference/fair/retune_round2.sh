#!/usr/bin/env bash
# Round 2 of the fair fight's tuning (see RUN.md): moves the studies whose tuned value bound a range that the
# new frozen commit widens (and the fixed-width twins whose widths depend on them) to superseded/round1/, so
# that tune.sh tunes them again from scratch with 20 complete trials; every other study stands.
set -eu
cd "$(dirname "$0")"
move() {  # setting unit...
  local setting=$1; shift
  mkdir -p superseded/round1/${setting}
  for unit in "$@"; do
    local d=tune/split_cifar10_${setting}_full-all/split_cifar10_${setting}_full-${unit}
    if [ -d "$d" ]; then mv "$d" superseded/round1/${setting}/; echo "moved ${setting} ${unit}"; fi
  done
}
twins() { for s in "$@"; do echo "$s" "fixed-final_$s" "fixed-max_$s"; done; }
# task-IL: packnet post_prune_epochs = 1 and packnet-iso@w16's are at the natural floor (1) and stand;
# A-GEM's patterns_per_exp = 95 is its 100-per-experience memory budget and stands
move task_il packnet-iso packnet-iso_w64 pnn-iso_w4 replay_w16 der_w16 der_w64 \
  $(twins neuro-prune neuro-grow-prune neuro-grow-prune-consolidate neuro-grow-prune-consolidate_s \
          neuro-grow-prune-consolidate_l neuro-grow-prune-consolidate_xl)
# class-IL: finetune_epochs = 0 is the natural floor and stands (neuro-grow-prune-replay, @s, consolidate)
move class_il naive-relu naive-tanh mas lwf der der_w16 der_w64 \
  $(twins neuro-grow neuro-prune) \
  fixed-final_neuro-grow-prune fixed-max_neuro-grow-prune fixed-final_neuro-adaptive \
  fixed-final_neuro-grow-prune-consolidate fixed-max_neuro-grow-prune-consolidate
rm -f tune/split_cifar10_task_il_full-all/tuned.toml tune/split_cifar10_class_il_full-all/tuned.toml
