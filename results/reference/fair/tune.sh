#!/usr/bin/env bash
# The fair fight's tuning, both settings, from the frozen commit (see RUN.md); resumable.
set -u
cd "$(dirname "$0")/../../.."
export ISOCL_DATA="${ISOCL_DATA:-$(cd .. && pwd)/shared/data/cifar10}"
for setting in task_il class_il; do
  isocl tune benchmarks/split_cifar10_${setting}_full.toml --strategy all --trials 20 --jobs 2 \
      --out results/reference/fair/tune/split_cifar10_${setting}_full-all \
      >> results/reference/fair/tune_${setting}.log 2>&1
  status=$?  # read before anything else runs ($(date) would reset it)
  echo "$(date -u +%FT%TZ) tune ${setting} exited ${status}" >> results/reference/fair/RUN.md
done
