#!/usr/bin/env bash
# Boots a Debian bookworm systemd image (the testkit's debootstrap rootfs) and stops
# it, with berth beside podman (runc), docker and bare runc. For each: time from
# `run -d` until `systemctl is-system-running --wait` says running, and the time of
# `stop` (a clean SIGRTMIN+3 halt). Medians go to docs/benchmarks.md.
#   sudo bash bench/systemd-boot.sh            (ROUNDS=5 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
tar=/var/cache/berth-testkit/debian-systemd.tar
[ -f "$tar" ] || cargo test -q -p berth --test systemd  # makes and caches the rootfs
source bench/lib.sh
cleanup() {
  set +e  # a trap under set -e would stop at the first container that is already gone
  "$berth" rm -f bsd >/dev/null 2>&1; "${D[@]}" rm -f bsd >/dev/null 2>&1
  rm_runc
  bench_cleanup
}
trap cleanup EXIT
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
bench_engines "$tar" 'CMD ["/sbin/init"]' --iptables=false --ip6tables=false --bridge=none

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
R=(runc --root "$runwork/runc")

boot_berth()   { "$berth" run -d --name bsd --network none bench/img >/dev/null; }
exec_berth()   { "$berth" exec bsd systemctl is-system-running --wait 2>/dev/null; }
stop_berth()   { "$berth" stop bsd >/dev/null; }
rm_berth()     { "$berth" rm -f bsd >/dev/null; }
boot_podman()  { "${P[@]}" run -d --name bsd --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 bench/img >/dev/null; }
exec_podman()  { "${P[@]}" exec bsd systemctl is-system-running --wait 2>/dev/null; }
stop_podman()  { "${P[@]}" stop bsd >/dev/null; }
rm_podman()    { "${P[@]}" rm -f bsd >/dev/null; }
# docker's usual recipe; here --privileged fails (it asks for CAP_SYS_RESOURCE, which
# this host's bounding set lacks), and the alternative binds the host's
# /sys/fs/cgroup read-write, which we do not do to this machine.
boot_docker()  { "${D[@]}" run -d --name bsd --network none --privileged --cgroupns=private --tmpfs /run --tmpfs /run/lock --stop-signal SIGRTMIN+3 bench/img >/dev/null; }
exec_docker()  { "${D[@]}" exec bsd systemctl is-system-running --wait 2>/dev/null; }
stop_docker()  { "${D[@]}" stop bsd >/dev/null; }
rm_docker()    { "${D[@]}" rm -f bsd >/dev/null; }
boot_runc()    { "${R[@]}" run -d -b "$work/bundle" bsd >/dev/null 2>&1 </dev/null; }
exec_runc()    { "${R[@]}" exec bsd systemctl is-system-running --wait 2>/dev/null; }
stop_runc()    { "${R[@]}" kill bsd 37; while "${R[@]}" state bsd 2>/dev/null | grep -q '"running"'; do sleep 0.005; done; }
# runc deletes its own cgroup but not what systemd made below it.
rm_runc()      { "${R[@]}" delete -f bsd >/dev/null 2>&1
                 # anything runc lost track of (seen once: a halted-but-alive init)
                 for p in $(find /sys/fs/cgroup/pids/berth-bench-runc -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -9 "$p"; done
                 sleep 0.2
                 for d in /sys/fs/cgroup/*/berth-bench-runc; do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done; true; }

results=()
for engine in berth podman docker runc; do
  boots=(); stops=()
  for _ in $(seq "$ROUNDS"); do
    t0=$(now_ms)
    if ! "boot_$engine" 2>"$work/boot.err"; then
      echo "$engine: cannot boot it here: $(tail -1 "$work/boot.err")" >&2
      "rm_$engine" || true
      continue 2
    fi
    state=""
    for _ in $(seq 300); do state=$("exec_$engine" || true); [ "$state" = running ] && break; sleep 0.01; done
    # Bare runc has no name=systemd cgroup of its own here, so a unit or two fail:
    # its boot still ends, "degraded" instead of "running".
    [ "$engine" = runc ] && [ "$state" = degraded ] && state=running
    t1=$(now_ms)
    [ "$state" = running ] || { echo "$engine: never running (last: $state)" >&2; "rm_$engine"; continue 2; }
    "stop_$engine"; t2=$(now_ms)
    "rm_$engine"
    boots+=($((t1 - t0))); stops+=($((t2 - t1)))
  done
  results+=("$engine ${boots[*]} / ${stops[*]}")
  echo "$engine boot ms: ${boots[*]}  stop ms: ${stops[*]}"
done

python3 - "${results[@]}" > "$work/section.md" <<'PY'
import sys, statistics, datetime, subprocess
rows = {}
for r in sys.argv[1:]:
    name, rest = r.split(" ", 1)
    boots, stops = rest.split(" / ")
    rows[name] = (statistics.median(map(int, boots.split())), statistics.median(map(int, stops.split())))
print("## systemd container: boot to running, and stop\n")
print(f"{datetime.date.today()}, {subprocess.getoutput('nproc')} cores, cgroup v1 hybrid, Debian bookworm systemd image, no network; `sudo bash bench/systemd-boot.sh` (medians of ROUNDS runs). Boot = `run -d` until `systemctl is-system-running --wait` prints running; stop = the engine's stop (SIGRTMIN+3 halt).\n")
print("| engine | boot ms | stop ms | flags it needs |\n|---|---|---|---|")
flags = {"berth": "none", "podman": "runc runtime, ulimits within the host's hard limits", "docker": "--privileged --cgroupns=private --tmpfs /run --tmpfs /run/lock --stop-signal SIGRTMIN+3", "runc": "hand-written config: tmpfs mounts, cgroup namespace, rw cgroup mount (boots degraded)"}
for n in ["berth", "podman", "docker", "runc"]:
    if n in rows:
        print(f"| {n} | {rows[n][0]:.0f} | {rows[n][1]:.0f} | {flags[n]} |")
    else:
        print(f"| {n} | failed | failed | {flags[n]} |")
for n in ["podman", "runc"]:
    if "berth" in rows and n in rows:
        print(f"\nberth boot − {n} boot: {rows['berth'][0] - rows[n][0]:+.0f} ms; berth stop ÷ {n} stop: {rows['berth'][1] / max(rows[n][1], 1):.2f}")
PY
cat "$work/section.md"
bench_record "systemd container: boot to running, and stop" "$work/section.md"
