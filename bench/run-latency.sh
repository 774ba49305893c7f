#!/usr/bin/env bash
# Times `run --rm IMG true` for berth beside podman (runc), docker and bare runc, on
# the same busybox rootfs with no network, and berth's monitor memory. Writes the
# figures to docs/benchmarks.md. Needs root; installs hyperfine, podman, docker.io.
#   sudo bash bench/run-latency.sh            (RUNS=50 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-50}
source bench/lib.sh
cleanup() { set +e; "$berth" rm -f bench-rss >/dev/null 2>&1; bench_cleanup; }
trap cleanup EXIT
bench_rootfs
bench_engines "$work/rootfs.tar" "" --iptables=false --ip6tables=false --bridge=none

# bare runc on the same rootfs.
(cd "$work/bundle" && runc spec && python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
c["root"]["readonly"] = True
json.dump(c, open("config.json", "w"))
PY
)

hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/run.json" \
  -n berth "$berth run --rm --network none bench/img true" \
  -n podman "${P[*]} run --rm --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 bench/img true" \
  -n docker "${D[*]} run --rm --network none bench/img true" \
  -n runc "runc --root $runwork/runc run -b $work/bundle bench-runc"

# Memory of an idle container's monitor.
"$berth" run -d --name bench-rss bench/img sleep 60 >/dev/null
sleep 6  # idle: the monitor gives back what its last wake-up touched (memory.rs)
id=$("$berth" inspect -f '{{.Id}}' bench-rss)
mon=$(pgrep -f "monitor $id" | head -1)
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$mon/status")
pss_kb=$(awk '/^Pss:/ {s+=$2} END {print s}' "/proc/$mon/smaps_rollup")

python3 - "$work/run.json" "$rss_kb" "$pss_kb" > "$work/section.md" <<'PY'
import json, sys, statistics, datetime, subprocess
res = {r["command"]: statistics.median(r["times"]) * 1000 for r in json.load(open(sys.argv[1]))["results"]}
rss, pss = int(sys.argv[2]), int(sys.argv[3])
print("## run --rm IMG true (no network)\n")
print(f"{datetime.date.today()}, {subprocess.getoutput('nproc')} cores, cgroup v1 hybrid; `sudo bash bench/run-latency.sh` (hyperfine medians).\n")
print("| engine | median ms | berth ÷ engine |\n|---|---|---|")
for name in ["berth", "podman", "docker", "runc"]:
    print(f"| {name} | {res[name]:.1f} | {res['berth'] / res[name]:.2f} |")
print(f"\nberth monitor of an idle running container: RSS {rss} kB, PSS {pss} kB (conmon: about 2 MB).")
PY
cat "$work/section.md"
bench_record "run --rm IMG true (no network)" "$work/section.md"
