#!/usr/bin/env bash
# `run --rm -p PORT:80 IMG true` on each engine's default bridge network: berth
# beside podman (runc, netavark) and docker, on the same busybox rootfs. Medians and
# ratios go to docs/benchmarks.md. Needs root.
#   sudo bash bench/network-latency.sh         (RUNS=30 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
source bench/lib.sh
trap bench_cleanup EXIT
bench_rootfs
bench_engines "$work/rootfs.tar" ""
L=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768)
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/net.json" \
  -n berth "$berth run --rm -p 28080:80 bench/img true" \
  -n podman "${P[*]} run --rm -p 28081:80 ${L[*]} bench/img true" \
  -n docker "${D[*]} run --rm -p 28082:80 bench/img true"
python3 - "$work/net.json" > "$work/section.md" <<'PY'
import json, sys, statistics, datetime, subprocess
res = {r["command"]: statistics.median(r["times"]) * 1000 for r in json.load(open(sys.argv[1]))["results"]}
print("## run --rm with the default bridge and a published port\n")
print(f"{datetime.date.today()}, {subprocess.getoutput('nproc')} cores; `sudo bash bench/network-latency.sh` (hyperfine medians; `run --rm -p PORT:80 IMG true`).\n")
print("| engine | median ms | berth ÷ engine |\n|---|---|---|")
for n in ["berth", "podman", "docker"]:
    print(f"| {n} | {res[n]:.1f} | {res['berth'] / res[n]:.2f} |")
PY
cat "$work/section.md"
bench_record "run --rm with the default bridge and a published port" "$work/section.md"
