#!/usr/bin/env bash
# Times `build` of one 5-step Dockerfile (ENV, COPY, RUN echo, WORKDIR, RUN true) on
# the same local busybox base with berth beside podman build (runc) and docker's
# builder (a private dockerd): a cold build (--no-cache) and a no-change rebuild
# (everything from the cache). Writes the figures to docs/benchmarks.md.
#   sudo bash bench/build.sh            (RUNS=10 cold, 20 rebuilds by default)
# Targets (issue 10): no-change rebuild <= 100 ms and <= 0.1x podman; cold <= 0.5x podman.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
source bench/lib.sh
trap bench_cleanup EXIT
bench_rootfs
bench_engines "$work/rootfs.tar" 'CMD ["/bin/sh"]' --iptables=false --ip6tables=false --bridge=none

ctx=$work/ctx
mkdir -p "$ctx"
printf 'hello\n' > "$ctx/a.txt"
# BASE: podman names an imported image localhost/bench/img.
cat > "$ctx/Dockerfile" <<'EOF'
ARG BASE=bench/img
FROM $BASE
ENV GREETING=hello
COPY a.txt /a.txt
RUN echo "$GREETING" > /built
WORKDIR /app
RUN true
EOF
# podman's RUN containers need ulimits within this host's hard limits.
printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n' \
  > "$CONTAINERS_CONF"
P+=(--cgroup-manager cgroupfs)
pb="${P[*]} build -q --pull=never --network none --build-arg BASE=localhost/bench/img"
# docker's CLI needs buildx for BuildKit; without it the classic builder runs.
if "${D[@]}" buildx version >/dev/null 2>&1; then dk="DOCKER_BUILDKIT=1"; else dk="DOCKER_BUILDKIT=0"; fi
db="env $dk ${D[*]} build -q --network none"
bb="$berth build -q --network none"

# Each builds once before the rebuilds are timed (and the cold runs show it works).
$bb "$ctx" >/dev/null
$pb "$ctx" >/dev/null
$db "$ctx" >/dev/null

hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/cold.json" \
  -n berth "$bb --no-cache $ctx" \
  -n podman "$pb --no-cache $ctx" \
  -n docker "$db --no-cache $ctx"
hyperfine -N --warmup 2 --runs $((RUNS * 2)) --export-json "$work/warm.json" \
  -n berth "$bb $ctx" \
  -n podman "$pb $ctx" \
  -n docker "$db $ctx"

python3 - "$work/cold.json" "$work/warm.json" "$dk" > "$work/section.md" <<'PY'
import json, sys, statistics, datetime, subprocess
def medians(path):
    return {r["command"]: statistics.median(r["times"]) * 1000 for r in json.load(open(path))["results"]}
cold, warm, dk = medians(sys.argv[1]), medians(sys.argv[2]), sys.argv[3]
builder = "BuildKit" if dk.endswith("1") else "classic builder (no buildx here)"
print("## build: 5 steps on a local busybox base\n")
print(f"{datetime.date.today()}, {subprocess.getoutput('nproc')} cores, cgroup v1 hybrid; `sudo bash bench/build.sh` "
      f"(hyperfine medians). Dockerfile: ENV, COPY, RUN echo, WORKDIR, RUN true; podman with runc, "
      f"docker's {builder}; RUN steps without network; load average {open('/proc/loadavg').read().split()[0]} at the end.\n")
print("| engine | cold build ms (--no-cache) | berth ÷ engine | no-change rebuild ms | berth ÷ engine |\n|---|---|---|---|---|")
for name in ["berth", "podman", "docker"]:
    print(f"| {name} | {cold[name]:.0f} | {cold['berth'] / cold[name]:.2f} | {warm[name]:.1f} | {warm['berth'] / warm[name]:.3f} |")
ok = lambda c: "met" if c else "**missed**"
print(f"\nTargets: no-change rebuild ≤ 100 ms ({ok(warm['berth'] <= 100)}) and ≤ 0.1× podman "
      f"({ok(warm['berth'] <= 0.1 * warm['podman'])}); cold ≤ 0.5× podman ({ok(cold['berth'] <= 0.5 * cold['podman'])}).")
PY
cat "$work/section.md"
bench_record "build: 5 steps on a local busybox base" "$work/section.md"
