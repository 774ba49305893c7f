#!/usr/bin/env bash
# Boots a Debian bookworm systemd image (the testkit's debootstrap rootfs) and stops
# it, with berth beside podman (runc), docker and bare runc. For each: time from
# `run -d` until `systemctl is-system-running --wait` says running, and the time of
# `stop` (a clean SIGRTMIN+3 halt). Medians go to docs/benchmarks.md.
#   sudo bash bench/systemd-boot.sh            (ROUNDS=5 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
export DEBIAN_FRONTEND=noninteractive
need=(podman docker.io runc debootstrap)
missing=(); for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] || { apt-get update -qq; apt-get install -y -qq "${missing[@]}" >/dev/null; }
cargo build --release -q
berth=$PWD/target/x86_64-unknown-linux-gnu/release/berth
tar=/var/cache/berth-testkit/debian-systemd.tar
[ -f "$tar" ] || cargo test -q -p berth --test systemd  # makes and caches the rootfs

work=$(mktemp -d /tmp/berth-sdbench.XXXXXX)
dockerd_pid=""
cleanup() {
  set +e
  "$berth" rm -f bsd >/dev/null 2>&1
  "${P[@]}" rm -f bsd >/dev/null 2>&1; "${P[@]}" rmi -af >/dev/null 2>&1
  [ -n "$dockerd_pid" ] && { "${D[@]}" rm -f bsd >/dev/null 2>&1; kill "$dockerd_pid"; wait "$dockerd_pid" 2>/dev/null; }
  runc --root "$work/runc" delete -f bsd >/dev/null 2>&1
  ip link del docker0 2>/dev/null
  for t in filter nat; do for c in DOCKER DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2; do
    iptables -t $t -F $c 2>/dev/null; iptables -t $t -X $c 2>/dev/null; done; done
  umount -R "$work"/podman/overlay 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

export BERTH_ROOT=$work/berth BERTH_RUNROOT=$work/berth-run
"$berth" import --change 'CMD ["/sbin/init"]' "$tar" bench/systemd >/dev/null

mkdir -p "$work/containers"; printf '[engine]\nruntime = "runc"\n' > "$work/containers/containers.conf"
export CONTAINERS_CONF=$work/containers/containers.conf
P=(podman --root "$work/podman" --runroot "$work/podman-run")
"${P[@]}" import --change 'CMD ["/sbin/init"]' "$tar" bench/systemd >/dev/null

dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" -H "unix://$work/docker.sock" \
  --pidfile "$work/docker.pid" --iptables=false --ip6tables=false --bridge=none \
  --exec-opt native.cgroupdriver=cgroupfs >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
D=(docker -H "unix://$work/docker.sock")
for _ in $(seq 100); do "${D[@]}" info >/dev/null 2>&1 && break; sleep 0.2; done
"${D[@]}" import --change 'CMD ["/sbin/init"]' "$tar" bench/systemd >/dev/null

# bare runc: the same rootfs, with the mounts systemd needs written by hand.
mkdir -p "$work/bundle/rootfs"; tar -C "$work/bundle/rootfs" -xf "$tar"
(cd "$work/bundle" && runc spec && python3 - <<'PY'
import json
c = json.load(open("config.json"))
p = c["process"]
p["terminal"] = False; p["args"] = ["/sbin/init"]; p["env"] += ["container=oci"]
p["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 20000}]
c["root"]["readonly"] = False
c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/sys/fs/cgroup"]
c["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["rw", "nosuid", "noexec", "nodev"]})
for d, mode in [("/run", "755"), ("/run/lock", "1777"), ("/tmp", "1777")]:
    c["mounts"].append({"destination": d, "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=" + mode]})
c["linux"]["namespaces"].append({"type": "cgroup"})
c["linux"]["cgroupsPath"] = "/berth-bench-runc"
json.dump(c, open("config.json", "w"))
PY
)
R=(runc --root "$work/runc")

boot_berth()   { "$berth" run -d --name bsd bench/systemd >/dev/null; }
exec_berth()   { "$berth" exec bsd systemctl is-system-running --wait 2>/dev/null; }
stop_berth()   { "$berth" stop bsd >/dev/null; }
rm_berth()     { "$berth" rm -f bsd >/dev/null; }
boot_podman()  { "${P[@]}" run -d --name bsd --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 bench/systemd >/dev/null; }
exec_podman()  { "${P[@]}" exec bsd systemctl is-system-running --wait 2>/dev/null; }
stop_podman()  { "${P[@]}" stop bsd >/dev/null; }
rm_podman()    { "${P[@]}" rm -f bsd >/dev/null; }
boot_docker()  { "${D[@]}" run -d --name bsd --privileged --cgroupns=private --tmpfs /run --tmpfs /run/lock --stop-signal SIGRTMIN+3 bench/systemd >/dev/null; }
exec_docker()  { "${D[@]}" exec bsd systemctl is-system-running --wait 2>/dev/null; }
stop_docker()  { "${D[@]}" stop bsd >/dev/null; }
rm_docker()    { "${D[@]}" rm -f bsd >/dev/null; }
boot_runc()    { "${R[@]}" run -d -b "$work/bundle" bsd >/dev/null 2>&1 </dev/null; }
exec_runc()    { "${R[@]}" exec bsd systemctl is-system-running --wait 2>/dev/null; }
stop_runc()    { "${R[@]}" kill bsd RTMIN+3; while "${R[@]}" state bsd 2>/dev/null | grep -q '"running"'; do sleep 0.005; done; }
rm_runc()      { "${R[@]}" delete -f bsd >/dev/null 2>&1; }

results=()
for engine in berth podman docker runc; do
  boots=(); stops=()
  for _ in $(seq "$ROUNDS"); do
    t0=$(now_ms); "boot_$engine"
    state=""
    for _ in $(seq 300); do state=$("exec_$engine" || true); [ "$state" = running ] && break; sleep 0.01; done
    t1=$(now_ms)
    [ "$state" = running ] || { echo "$engine: never running (last: $state)" >&2; "rm_$engine"; continue 2; }
    "stop_$engine"; t2=$(now_ms)
    "rm_$engine"
    boots+=($((t1 - t0))); stops+=($((t2 - t1)))
  done
  results+=("$engine ${boots[*]} / ${stops[*]}")
  echo "$engine boot ms: ${boots[*]}  stop ms: ${stops[*]}"
done

python3 - "${results[@]}" <<'PY'
import sys, statistics, datetime, subprocess
rows = {}
for r in sys.argv[1:]:
    name, rest = r.split(" ", 1)
    boots, stops = rest.split(" / ")
    rows[name] = (statistics.median(map(int, boots.split())), statistics.median(map(int, stops.split())))
lines = ["## systemd container: boot to running, and stop", "",
         f"{datetime.date.today()}, {subprocess.getoutput('nproc')} cores, cgroup v1 hybrid, Debian bookworm systemd image; `sudo bash bench/systemd-boot.sh` (medians of ROUNDS runs). Boot = `run -d` until `systemctl is-system-running --wait` prints running; stop = the engine's stop (SIGRTMIN+3 halt).",
         "", "| engine | boot ms | stop ms | flags it needs |", "|---|---|---|---|"]
flags = {"berth": "none", "podman": "runc runtime, ulimits within the host's hard limits", "docker": "--privileged --cgroupns=private --tmpfs /run --tmpfs /run/lock --stop-signal SIGRTMIN+3", "runc": "hand-written config: tmpfs mounts, cgroup namespace, rw cgroup mount"}
for n in ["berth", "podman", "docker", "runc"]:
    if n in rows:
        lines.append(f"| {n} | {rows[n][0]:.0f} | {rows[n][1]:.0f} | {flags[n]} |")
    else:
        lines.append(f"| {n} | failed | failed | {flags[n]} |")
if "berth" in rows:
    for n in ["podman", "runc"]:
        if n in rows:
            lines.append("")
            lines.append(f"berth boot − {n} boot: {rows['berth'][0] - rows[n][0]:+.0f} ms; berth stop ÷ {n} stop: {rows['berth'][1] / max(rows[n][1], 1):.2f}")
text = "\n".join(lines) + "\n"
print(text)
path = "docs/benchmarks.md"
old = open(path).read() if __import__("os").path.exists(path) else "# Benchmarks\n\n"
start = old.find("## systemd container")
if start >= 0:
    end = old.find("\n## ", start + 1)
    old = old[:start] + (old[end + 1:] if end >= 0 else "")
open(path, "w").write(old.rstrip("\n") + "\n\n" + text)
PY
