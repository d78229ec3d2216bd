#!/usr/bin/env bash
# Issue 18's measurements on an idle machine, one after another, into OUT (default
# results/reference/speed-idle-<date>): the dry-run estimate and the real run of the class-IL quick look, the
# training-loop ratio, the moves' share of an epoch and the audit's overhead. Each step's wall time and the
# 1-minute load average when it ended go to OUT/steps.txt; run it with nothing else running.
#   ISOCL_DATA=... bash benchmarks/speed_idle.sh [OUT]
set -u
cd "$(dirname "$0")/.."
out=${1:-results/reference/speed-idle-$(date -u +%F)}
mkdir -p "$out"
git rev-parse HEAD > "$out/commit.txt"
step() {  # name command...
  local name=$1; shift
  local t0=$(date +%s.%N)
  "$@" > "$out/$name.log" 2>&1
  local status=$?
  echo "$name exit=$status wall_s=$(echo "$(date +%s.%N) - $t0" | bc) load_end=$(cut -d' ' -f1 /proc/loadavg) $(date -u +%FT%TZ)" >> "$out/steps.txt"
}
echo "start load=$(cut -d' ' -f1 /proc/loadavg) $(date -u +%FT%TZ)" >> "$out/steps.txt"
step dry-run-class isocl run benchmarks/split_cifar10_class_il.toml --dry-run --jobs 2 --threads 1
rm -rf "$out/quick-class"
step quick-class isocl run benchmarks/split_cifar10_class_il.toml --out "$out/quick-class" --jobs 2 --threads 1
step speed isocl speed --repeats 5
step speed-core python benchmarks/speed_core.py --threads 1 --cpu-time
step audit python benchmarks/audit_overhead.py --repeats 5
rm -rf "$out/quick-class/models"
