#!/usr/bin/env bash
# Times `run --rm IMG true` for berth beside podman (runc), docker and bare runc, on
# the same busybox rootfs with no network, and berth's monitor memory. Writes the
# figures to docs/benchmarks.md. Needs root; installs hyperfine, podman, docker.io.
#   sudo bash bench/run-latency.sh            (RUNS=50 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-50}
export DEBIAN_FRONTEND=noninteractive
need=(hyperfine podman docker.io runc busybox-static)
missing=(); for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] || { apt-get update -qq; apt-get install -y -qq "${missing[@]}" >/dev/null; }
cargo build --release -q
berth=$PWD/target/x86_64-unknown-linux-gnu/release/berth

work=$(mktemp -d /tmp/berth-bench.XXXXXX)
dockerd_pid=""
cleanup() {
  set +e
  "$berth" rm -f bench-rss >/dev/null 2>&1
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid"; wait "$dockerd_pid" 2>/dev/null
  fi
  # docker leaves a bridge and firewall chains even when told not to use them.
  ip link del docker0 2>/dev/null
  for t in filter nat; do
    for c in DOCKER DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER-FORWARD DOCKER-BRIDGE DOCKER-CT; do
      iptables -t $t -F $c 2>/dev/null; iptables -t $t -X $c 2>/dev/null
    done
  done
  podman --root "$work/podman" --runroot "$work/podman-run" rmi -af >/dev/null 2>&1
  umount -R "$work"/podman/overlay 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# One rootfs for everyone.
mkdir -p "$work/bundle/rootfs"/{bin,etc,tmp,root,proc,sys,dev}
cp /bin/busybox "$work/bundle/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$work/bundle/rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$work/bundle/rootfs/etc/passwd"
tar -C "$work/bundle/rootfs" -cf "$work/rootfs.tar" .

export BERTH_ROOT=$work/berth BERTH_RUNROOT=$work/berth-run
"$berth" import "$work/rootfs.tar" bench/busybox >/dev/null

# podman: runc (crun refuses this cgroup layout), limits within the host's hard ones.
mkdir -p "$work/containers"
printf '[engine]\nruntime = "runc"\n' > "$work/containers/containers.conf"
export CONTAINERS_CONF=$work/containers/containers.conf
P=(podman --root "$work/podman" --runroot "$work/podman-run")
"${P[@]}" import "$work/rootfs.tar" bench/busybox >/dev/null

# docker: our own dockerd, stopped by PID at the end.
dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" -H "unix://$work/docker.sock" \
  --pidfile "$work/docker.pid" --iptables=false --ip6tables=false --bridge=none \
  --exec-opt native.cgroupdriver=cgroupfs >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
D=(docker -H "unix://$work/docker.sock")
for _ in $(seq 100); do "${D[@]}" info >/dev/null 2>&1 && break; sleep 0.2; done
"${D[@]}" import "$work/rootfs.tar" bench/busybox >/dev/null

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
  -n berth "$berth run --rm --network none bench/busybox true" \
  -n podman "${P[*]} run --rm --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 bench/busybox true" \
  -n docker "${D[*]} run --rm --network none bench/busybox true" \
  -n runc "runc --root $work/runc run -b $work/bundle bench-runc"

# Monitor memory of a running container.
"$berth" run -d --name bench-rss bench/busybox sleep 60 >/dev/null
mon=$(for p in /proc/[0-9]*; do
  if tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q "monitor $("$berth" inspect -f '{{.Id}}' bench-rss)"; then basename "$p"; fi
done | head -1)
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$mon/status")
pss_kb=$(awk '/^Pss:/ {s+=$2} END {print s}' "/proc/$mon/smaps_rollup")

python3 - "$work/run.json" "$rss_kb" "$pss_kb" <<'PY'
import json, sys, statistics, datetime, subprocess
res = {r["command"]: statistics.median(r["times"]) * 1000 for r in json.load(open(sys.argv[1]))["results"]}
rss, pss = int(sys.argv[2]), int(sys.argv[3])
lines = [
    "## run --rm IMG true (no network)",
    "",
    f"{datetime.date.today()}, {subprocess.getoutput('nproc')} cores, cgroup v1 hybrid; `sudo bash bench/run-latency.sh` (hyperfine medians).",
    "",
    "| engine | median ms | berth ÷ engine |",
    "|---|---|---|",
]
for name in ["berth", "podman", "docker", "runc"]:
    lines.append(f"| {name} | {res[name]:.1f} | {res['berth'] / res[name]:.2f} |")
lines += ["", f"berth monitor per running container: RSS {rss} kB, PSS {pss} kB (conmon: about 2 MB).", ""]
text = "\n".join(lines)
print(text)
path = "docs/benchmarks.md"
try:
    old = open(path).read()
except FileNotFoundError:
    old = "# Benchmarks\n\nFigures from the scripts in `bench/`, newest run of each script.\n\n"
start = old.find("## run --rm IMG true")
if start >= 0:
    end = old.find("\n## ", start + 1)
    old = old[:start] + (old[end + 1:] if end >= 0 else "")
open(path, "w").write(old.rstrip("\n") + "\n\n" + text)
PY
