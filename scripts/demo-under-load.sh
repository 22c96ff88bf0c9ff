#!/usr/bin/env bash
# Runs `npx edgeml demo` N times (default 10) while six busy loops crowd every core, and prints
# how many runs succeeded and each run's wall time. The demo must converge on a loaded machine.
#   scripts/demo-under-load.sh [RUNS]
set -u
cd "$(dirname "$0")/.."
runs="${1:-10}"
logs=$(mktemp -d /tmp/edgeml-demo-under-load.XXXXXX)
loops=()
cleanup() {
  for pid in "${loops[@]}"; do kill "$pid" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for _ in 1 2 3 4 5 6; do
  ( while :; do :; done ) &
  loops+=("$!")
done
ok=0
times=()
for i in $(seq 1 "$runs"); do
  start=$(date +%s.%N)
  if npx edgeml demo > "$logs/run-$i.log" 2>&1; then
    ok=$((ok + 1)); result=ok
  else
    result="FAILED (log: $logs/run-$i.log)"
  fi
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  times+=("$(printf '%.1f' "$secs")")
  echo "run $i: $result in $(printf '%.1f' "$secs") s"
done
echo "succeeded: $ok of $runs"
echo "wall times (s): ${times[*]}"
[ "$ok" -eq "$runs" ]
