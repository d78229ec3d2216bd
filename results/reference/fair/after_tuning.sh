#!/usr/bin/env bash
# Runs after tune.sh (see RUN.md), from the frozen worktree: first the idle-machine speed measurements of
# issue 18 (results/reference/speed-idle/, while nothing else runs), then the verdict, task-IL then class-IL,
# on the tuned benchmark files. Resumable: rerun it; finished steps are skipped (their .done marker).
set -u
cd "$(dirname "$0")/../../.."
export ISOCL_DATA="${ISOCL_DATA:-$(cd .. && pwd)/shared/data/cifar10}"
fair=results/reference/fair
speed=results/reference/speed-idle
mkdir -p "$speed"
while pgrep -f "$fair/tune.sh" > /dev/null; do sleep 30; done
step() {  # name command...: run once, its output in $speed/name.log, its wall time and status in $speed/steps.txt
  local name=$1; shift
  [ -e "$speed/$name.done" ] && return 0
  local t0=$(date +%s)
  "$@" > "$speed/$name.log" 2>&1
  local status=$?
  echo "$name exit=$status wall_s=$(( $(date +%s) - t0 )) load_before=$(cut -d' ' -f1 /proc/loadavg) $(date -u +%FT%TZ)" >> "$speed/steps.txt"
  [ $status = 0 ] && touch "$speed/$name.done"
}
step dry-run-class isocl run benchmarks/split_cifar10_class_il.toml --dry-run --jobs 2 --threads 1
step dry-run-task isocl run benchmarks/split_cifar10_task_il.toml --dry-run --jobs 2 --threads 1
rm -rf "$speed/quick-class" "$speed/quick-task"
step quick-class isocl run benchmarks/split_cifar10_class_il.toml --out "$speed/quick-class" --jobs 2 --threads 1
step quick-task isocl run benchmarks/split_cifar10_task_il.toml --out "$speed/quick-task" --jobs 2 --threads 1
step speed isocl speed --repeats 5
step speed-core python benchmarks/speed_core.py --threads 1 --cpu-time
step audit python benchmarks/audit_overhead.py --repeats 3
rm -rf "$speed/tune-jobs1" "$speed/tune-jobs2"
step tune-jobs1 isocl tune benchmarks/split_cifar10_class_il.toml --strategy replay --trials 8 --jobs 1 --seed 0 --out "$speed/tune-jobs1"
step tune-jobs2 isocl tune benchmarks/split_cifar10_class_il.toml --strategy replay --trials 8 --jobs 2 --seed 0 --out "$speed/tune-jobs2"
for setting in task_il class_il; do
  tuned=$fair/tune/split_cifar10_${setting}_full-all/tuned.toml
  if [ ! -e "$tuned" ]; then echo "$(date -u +%FT%TZ) verdict ${setting}: no tuned.toml, not run" >> $fair/RUN.md; continue; fi
  echo "$(date -u +%FT%TZ) verdict ${setting} started" >> $fair/RUN.md
  isocl run "$tuned" --jobs 2 --threads 1 --out $fair/split_cifar10_${setting}_full >> $fair/verdict_${setting}.log 2>&1
  status=$?
  echo "$(date -u +%FT%TZ) verdict ${setting} exited ${status}" >> $fair/RUN.md
done
