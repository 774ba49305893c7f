#!/usr/bin/env bash
# Density (issue 11): N idle busybox containers on berth's default bridge, started by
# CLIENTS parallel clients. Records `run -d` latency of the 1st and the Nth
# container, `run --rm --network none IMG true` (beside bare runc), `run -d`,
# `exec`, `ps`, `inspect` and `stop` with none running and with N running, memory per
# idle container, and the time of `rm -f` of all. Checks that every container
# started under its name, with no SQLite busy error, and answers a ping on the
# bridge. Writes the figures to docs/benchmarks.md. Needs root.
#   sudo bash bench/density.sh                  (N=1000 CLIENTS=8 RUNS=20)
#   sudo N=50 bash bench/density.sh             (a quick look)
#
# The containers use a bridge, subnet and nft table of their own (BERTH_BRIDGE …),
# so the bench never meets a user's berth0; everything it starts is removed by
# name at exit, even when it fails half-way.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
CLIENTS=${CLIENTS:-8}
RUNS=${RUNS:-20}
P=(true) D=(true)  # no podman or docker here: bench_cleanup's calls do nothing
source bench/lib.sh
export BERTH_ROOT=$work/berth BERTH_RUNROOT=$runwork/berth
export BERTH_BRIDGE=bdensity0 BERTH_NFT_TABLE=berth_density BERTH_SUBNET=${SUBNET:-10.199.0.0/16}
IMG=bench/img
cleanup() {
  set +e
  "$berth" ps -aq --no-trunc 2>/dev/null | xargs -r -n 50 "$berth" rm -f >/dev/null 2>&1
  bench_cleanup
}
trap cleanup EXIT
bench_rootfs
"$berth" import --change 'CMD ["/bin/sh"]' "$work/rootfs.tar" $IMG >/dev/null
(cd "$work/bundle" && runc spec && python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
c["root"]["readonly"] = True
json.dump(c, open("config.json", "w"))
PY
)
# An idle container that stops on SIGTERM (a shell as PID 1 ignores it otherwise).
IDLE=(sh -c 'trap "exit 0" TERM; sleep 1000000 & wait')
ms() { date +%s%N; }

# Medians of the per-operation timings, in a JSON file per phase ($1 = idle|loaded).
measure() {
  local phase=$1
  "$berth" run -d --name probe-$phase $IMG "${IDLE[@]}" >/dev/null
  hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/$phase-hf.json" \
    -n run-rm "$berth run --rm --network none $IMG true" \
    -n runc "runc --root $runwork/runc run -b $work/bundle bench-runc" \
    -n exec "$berth exec probe-$phase true" \
    -n ps "$berth ps" \
    -n inspect "$berth inspect probe-$phase"
  # run -d and stop, one container at a time (each stopped one is removed after).
  python3 - "$berth" "$IMG" "$RUNS" "$phase" > "$work/$phase-ops.json" <<'PY'
import json, subprocess, sys, time, statistics
berth, img, runs, phase = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
idle = ["sh", "-c", 'trap "exit 0" TERM; sleep 1000000 & wait']
start, stop = [], []
for i in range(runs):
    name = f"op-{phase}-{i}"
    t = time.perf_counter(); subprocess.run([berth, "run", "-d", "--name", name, img, *idle], check=True, stdout=subprocess.DEVNULL); start.append(time.perf_counter() - t)
    t = time.perf_counter(); subprocess.run([berth, "stop", name], check=True, stdout=subprocess.DEVNULL); stop.append(time.perf_counter() - t)
    subprocess.run([berth, "rm", name], check=True, stdout=subprocess.DEVNULL)
# A host tool's look at an IPv6 sysctl: /proc/sys/net shows the looker's network
# namespace, and a procfs written from inside containers' namespaces keeps an
# entry per namespace there (net/src/sysctl.rs). Microseconds per open and read.
probe = "/proc/sys/net/ipv6/conf/all/forwarding"
sysctl_us = None
try:
    t = time.perf_counter()
    for _ in range(1000):
        with open(probe) as f: f.read()
    sysctl_us = (time.perf_counter() - t) * 1000
except OSError:
    pass
print(json.dumps({"run-d": statistics.median(start) * 1000, "stop": statistics.median(stop) * 1000, "sysctl": sysctl_us}))
PY
  "$berth" rm -f probe-$phase >/dev/null
}

mem_snapshot() {  # $1 = file: Slab and PageTables (kB) from /proc/meminfo
  awk '/^(Slab|PageTables|MemAvailable):/ {print $1, $2}' /proc/meminfo > "$1"
}

load_before=$(uptime)
measure idle
mem_snapshot "$work/mem.before"

# The fill: CLIENTS clients, each starting its share of N in turn.
fill_start=$(ms)
python3 - "$berth" "$IMG" "$N" "$CLIENTS" > "$work/fill.json" <<'PY'
import json, subprocess, sys, time, threading
berth, img, n, clients = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
idle = ["sh", "-c", 'trap "exit 0" TERM; sleep 1000000 & wait']
results, lock = [], threading.Lock()
def client(k):
    for i in range(k, n, clients):
        t0 = time.perf_counter()
        p = subprocess.run([berth, "run", "-d", "--name", f"dens-{i}", img, *idle], capture_output=True, text=True)
        with lock:
            results.append({"i": i, "start": t0, "ms": (time.perf_counter() - t0) * 1000, "rc": p.returncode, "err": p.stderr.strip()})
threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
results.sort(key=lambda r: r["start"])
print(json.dumps(results))
PY
fill_ms=$(( ($(ms) - fill_start) / 1000000 ))
sleep 6  # idle: monitors give back what their start touched (engine/src/memory.rs)
mem_snapshot "$work/mem.after"

# Every container under its name, and answering on the bridge.
"$berth" ps --format '{{.Names}}' | sort > "$work/names"
"$berth" ps -q --no-trunc | xargs -r -n 100 "$berth" inspect -f '{{.NetworkSettings.IPAddress}}' > "$work/ips"
# The host's ARP table (gc_thresh3, 1024 entries by default, shared by the whole
# network namespace) cannot drop an entry younger than 5 s, so pinging more than about
# a thousand addresses at once overflows it ("table_fulls" in `ip -s ntable`). Those
# that fail are pinged again one by one after 6 s, and the overflows are counted.
table_fulls() { ip -s ntable show name arp_cache 2>/dev/null | awk '/table_fulls/ && !n++ {print $2}' || true; }
fulls_before=$(table_fulls)
xargs -r -P "$CLIENTS" -I{} sh -c '/bin/busybox ping -c 1 -W 2 {} >/dev/null 2>&1 || echo {}' < "$work/ips" > "$work/unanswered"
fulls=$(( $(table_fulls) - fulls_before ))
first_unanswered=$(wc -l < "$work/unanswered")
if [ "$first_unanswered" -gt 0 ]; then sleep 6; fi
unreachable=$(while read -r ip; do /bin/busybox ping -c 1 -W 2 "$ip" >/dev/null 2>&1 || echo "$ip"; done < "$work/unanswered" | wc -l)

# Memory: each monitor's RSS/PSS, each container's cgroup (its processes' memory
# and the kernel memory charged to it).
python3 - "$BERTH_ROOT" > "$work/monitors.json" <<'PY'
import json, os, sys
root = sys.argv[1].encode()
rss, pss, cg = [], [], []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        if len(cmd) < 3 or cmd[1] != b"monitor":
            continue
        env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        if b"BERTH_ROOT=" + root not in env:
            continue
        st = open(f"/proc/{pid}/status").read()
        rss.append(int(next(l.split()[1] for l in st.splitlines() if l.startswith("VmRSS"))))
        pss.append(sum(int(l.split()[1]) for l in open(f"/proc/{pid}/smaps_rollup") if l.startswith("Pss:")))
        cid = cmd[2].decode()
        for f in ("/sys/fs/cgroup/memory/berth/%s/memory.usage_in_bytes", "/sys/fs/cgroup/berth/%s/memory.current"):
            if os.path.exists(f % cid):
                cg.append(int(open(f % cid).read()) // 1024); break
    except (OSError, StopIteration, ValueError):
        pass
print(json.dumps({"rss": rss, "pss": pss, "cgroup": cg}))
PY

measure loaded
load_loaded=$(uptime)
# Stop at N: one container of the N stopped by `stop` (the measure above stops
# extra ones it started itself); and rm -f of all from CLIENTS clients.
t=$(ms); "$berth" stop dens-0 >/dev/null; stop_n_ms=$(( ($(ms) - t) / 1000 ))
t=$(ms)
"$berth" ps -aq --no-trunc | xargs -r -P "$CLIENTS" -n 25 "$berth" rm -f >/dev/null
rm_ms=$(( ($(ms) - t) / 1000000 ))
left=$("$berth" ps -aq | wc -l)

python3 - "$work" "$N" "$CLIENTS" "$fill_ms" "$unreachable" "$stop_n_ms" "$rm_ms" "$left" \
  "$load_before" "$load_loaded" "$first_unanswered" "$fulls" > "$work/section.md" <<'PY'
import json, sys, statistics, datetime, subprocess
w, n, clients, fill_ms, unreachable, stop_n_us, rm_ms, left, load0, load1, first, fulls = sys.argv[1:13]
n = int(n)
def hf(phase):
    return {r["command"]: statistics.median(r["times"]) * 1000 for r in json.load(open(f"{w}/{phase}-hf.json"))["results"]}
idle, loaded = hf("idle"), hf("loaded")
idle.update(json.load(open(f"{w}/idle-ops.json"))); loaded.update(json.load(open(f"{w}/loaded-ops.json")))
fill = json.load(open(f"{w}/fill.json"))
ok = [r for r in fill if r["rc"] == 0]
errs = [r["err"] for r in fill if r["rc"] != 0]
busy = sum(1 for e in errs if "busy" in e.lower() or "locked" in e.lower())
names = set(open(f"{w}/names").read().split())
lost = sum(1 for i in range(n) if f"dens-{i}" not in names)
mon = json.load(open(f"{w}/monitors.json"))
def meminfo(p): return {l.split()[0].rstrip(":"): int(l.split()[1]) for l in open(p)}
m0, m1 = meminfo(f"{w}/mem.before"), meminfo(f"{w}/mem.after")
avg = lambda xs: sum(xs) / len(xs) if xs else 0
lat = sorted(r["ms"] for r in ok)
print("## density: idle containers on the default bridge (bench/density.sh)\n")
print(f"{datetime.date.today()}, {subprocess.getoutput('nproc')} cores shared with other work, cgroup v1 hybrid, release build; "
      f"`sudo bash bench/density.sh` (N={n}, {clients} parallel clients, hyperfine medians). Each container is busybox "
      "`sh -c 'trap \"exit 0\" TERM; sleep 1000000 & wait'` on berth's default bridge.\n")
print(f"Load: before `{load0.strip()}`; with {n} running `{load1.strip()}`.\n")
print(f"Fill: {len(ok)} of {n} `run -d` succeeded in {int(fill_ms) / 1000:.1f} s; {len(errs)} failed ({busy} SQLite busy/locked); "
      f"{lost} names missing from `ps`; {first} of {len(names)} did not answer a first ping from the host on the bridge "
      f"({clients} at a time; the host's ARP table overflowed {fulls} times meanwhile), {unreachable} did not answer again 6 s later. "
      f"`run -d` latency under {clients} clients: 1st {fill[0]['ms']:.0f} ms, {n}th (last started) {fill[-1]['ms']:.0f} ms, "
      f"median {statistics.median(lat):.0f} ms, p95 {lat[int(len(lat) * 0.95) - 1] if lat else 0:.0f} ms.\n")
print(f"| operation | none running, ms | {n} running, ms | loaded ÷ idle |\n|---|---|---|---|")
for k, label in [("run-rm", "`run --rm --network none IMG true`"), ("runc", "bare runc, same rootfs"), ("run-d", "`run -d` (one client)"),
                 ("exec", "`exec C true`"), ("ps", "`ps`"), ("inspect", "`inspect C`"), ("stop", "`stop C` (exits on SIGTERM)")]:
    print(f"| {label} | {idle[k]:.1f} | {loaded[k]:.1f} | {loaded[k] / idle[k]:.2f} |")
if idle.get("sysctl") and loaded.get("sysctl"):
    print(f"| a host tool's open and read of `/proc/sys/net/ipv6/conf/all/forwarding`, **µs** | {idle['sysctl']:.1f} | {loaded['sysctl']:.1f} | {loaded['sysctl'] / idle['sysctl']:.2f} |")
print(f"\nberth `run --rm` ÷ bare runc: {idle['run-rm'] / idle['runc']:.2f} idle, {loaded['run-rm'] / loaded['runc']:.2f} with {n} running. "
      f"`stop` of one of the {n}: {int(stop_n_us) / 1000:.1f} ms. `rm -f` of all {n} ({clients} clients, 25 per command): {int(rm_ms) / 1000:.1f} s; {left} left.\n")
print("Memory per idle container (averages over the running ones):\n")
print("| what | kB |\n|---|---|")
print(f"| monitor RSS | {avg(mon['rss']):.0f} |\n| monitor PSS | {avg(mon['pss']):.0f} |")
print(f"| container cgroup (memory.usage_in_bytes: its processes and kernel memory charged to it) | {avg(mon['cgroup']):.0f} |")
print(f"| host slab growth ÷ N | {(m1['Slab'] - m0['Slab']) / n:.0f} |\n| host page-table growth ÷ N | {(m1['PageTables'] - m0['PageTables']) / n:.0f} |")
print(f"| host MemAvailable drop ÷ N | {(m0['MemAvailable'] - m1['MemAvailable']) / n:.0f} |")
print("\nThe host-wide figures (slab, page tables, MemAvailable) include whatever else ran on the machine meanwhile.")
PY
cat "$work/section.md"
bench_record "density: idle containers on the default bridge (bench/density.sh)" "$work/section.md"
