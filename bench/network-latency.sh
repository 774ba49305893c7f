#!/usr/bin/env bash
# `run --rm -p PORT:80 IMG true` on each engine's default bridge network: berth
# beside podman (runc, netavark) and docker, on the same busybox rootfs. Medians and
# ratios go to docs/benchmarks.md. Needs root.
#   sudo bash bench/network-latency.sh         (RUNS=30, COLD_RUNS=10 by default)
#
# Two rounds. "back to back" is hyperfine's usual loop: berth's bridge outlives
# its last container by BERTH_NET_LINGER_MS (2 s), so runs share it, as docker's
# runs share docker0. "cold" sleeps 3 s before each run, so berth creates and
# deletes its bridge and nft table every time.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
source bench/lib.sh
trap bench_cleanup EXIT
bench_rootfs
bench_engines "$work/rootfs.tar" ""
L=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768)
round() {  # $1 = json file, then hyperfine options
  local out=$1; shift
  hyperfine -N "$@" --export-json "$out" \
    -n berth "$berth run --rm -p 28080:80 bench/img true" \
    -n podman "${P[*]} run --rm -p 28081:80 ${L[*]} bench/img true" \
    -n docker "${D[*]} run --rm -p 28082:80 bench/img true"
}
round "$work/warm.json" --warmup 3 --runs "$RUNS"
round "$work/cold.json" --runs "${COLD_RUNS:-10}" --prepare "sleep 3"
python3 - "$work/warm.json" "$work/cold.json" > "$work/section.md" <<'PY'
import json, sys, statistics, datetime, subprocess
def medians(path):
    return {r["command"]: statistics.median(r["times"]) * 1000 for r in json.load(open(path))["results"]}
warm, cold = medians(sys.argv[1]), medians(sys.argv[2])
print("## run --rm with the default bridge and a published port\n")
print(f"{datetime.date.today()}, {subprocess.getoutput('nproc')} cores; `sudo bash bench/network-latency.sh` (hyperfine medians; `run --rm -p PORT:80 IMG true`). "
      "Back to back, berth's bridge lingers 2 s after its last container and is shared; "
      "cold, each run waits 3 s first, so berth makes and removes its bridge and nft table every time.\n")
print("| engine | back to back, ms | berth ÷ engine | cold, ms | berth ÷ engine |\n|---|---|---|---|---|")
for n in ["berth", "podman", "docker"]:
    print(f"| {n} | {warm[n]:.1f} | {warm['berth'] / warm[n]:.2f} | {cold[n]:.1f} | {cold['berth'] / cold[n]:.2f} |")
PY
cat "$work/section.md"
bench_record "run --rm with the default bridge and a published port" "$work/section.md"
