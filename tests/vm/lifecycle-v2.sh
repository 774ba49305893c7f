#!/usr/bin/env bash
# pause/unpause, update and events on a cgroup v2 host (cgroup.freeze, memory.max,
# cpu.max, cpuset.cpus, pids.max), inside the QEMU VM from ../shared/vm/.
#   sudo bash tests/vm/lifecycle-v2.sh        (host side: builds, then boots the VM)
set -euo pipefail

if [ "${1:-}" != "--in-vm" ] && [ ! -d /mnt/share ]; then
  cd "$(dirname "$0")/../.."
  cargo build -q -p berth
  tar=/var/cache/berth-testkit/busybox-rootfs.tar
  [ -f "$tar" ] || cargo test -q -p berth --test basics
  vm=$(cd ../shared/vm 2>/dev/null && pwd || echo /work/shared/vm)
  [ -f "${BERTH_VM_DIR:-/var/tmp/berth-vm}/rootfs.img" ] || bash "$vm/build-image.sh"
  bin=${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/debug/berth
  VM_TIMEOUT=${VM_TIMEOUT:-600} exec bash "$vm/run-in-vm.sh" "$0" "$bin" "$tar"
fi

# --- inside the VM ---
exec > /mnt/share/output 2>&1
trap 'echo $? > /mnt/share/rc' EXIT
cd /mnt/share
export BERTH_ROOT=/var/lib/berth-vmtest BERTH_RUNROOT=/run/berth-vmtest
B=./berth
step() { echo "== $*"; }
expect() { # expect WHAT GOT WANT
  if [ "$2" != "$3" ]; then echo "FAIL $1: got '$2', want '$3'"; exit 1; fi
  echo "ok   $1: $2"
}
step "host: $(uname -r), $(stat -fc %T /sys/fs/cgroup)"
t0=$(date +%s.%N)
$B import --change 'CMD ["/bin/sh"]' busybox-rootfs.tar busybox >/dev/null
$B run -d --name p busybox sh -c 'i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done' >/dev/null
id=$($B inspect -f '{{.Id}}' p)
cg=/sys/fs/cgroup/berth/$id
sleep 1

step pause
$B pause p
expect cgroup.freeze "$(cat $cg/cgroup.freeze)" 1
expect "cgroup.events frozen" "$(grep frozen $cg/cgroup.events)" "frozen 1"
expect inspect "$($B inspect -f '{{.State.Status}} {{.State.Paused}}' p)" "paused true"
pid=$($B inspect -f '{{.State.Pid}}' p)
n1=$(cat /proc/$pid/root/tmp/n); sleep 1; n2=$(cat /proc/$pid/root/tmp/n)
expect "counter while paused" "$n2" "$n1"
if $B exec p true 2>/dev/null; then echo "FAIL exec into a paused container"; exit 1; fi
$B unpause p
expect "cgroup.freeze after unpause" "$(cat $cg/cgroup.freeze)" 0
sleep 1
n3=$(cat /proc/$pid/root/tmp/n)
[ "$n3" -gt "$n2" ] && echo "ok   counter runs again: $n3"

step update
$B update --memory 64m --memory-swap 128m --cpus 0.5 --cpuset-cpus 0 --pids-limit 20 --cpu-shares 512 p
expect memory.max "$(cat $cg/memory.max)" 67108864
expect memory.swap.max "$(cat $cg/memory.swap.max)" 67108864
expect cpu.max "$(cat $cg/cpu.max)" "50000 100000"
expect cpuset.cpus "$(cat $cg/cpuset.cpus)" 0
expect pids.max "$(cat $cg/pids.max)" 20
expect cpu.weight "$(cat $cg/cpu.weight)" 20
$B restart -t 1 p
expect "memory.max after restart" "$(cat $cg/memory.max)" 67108864
expect "cpuset.cpus after restart" "$(cat $cg/cpuset.cpus)" 0

step "stop of a paused container"
$B pause p
$B stop -t 1 p
expect "stopped" "$($B inspect -f '{{.State.Status}} {{.State.Paused}}' p)" "exited false"

step events
$B events --since "$t0" --until "$(date +%s.%N)" --format '{{.Action}}' | sort | uniq -c
$B rm p >/dev/null
[ -d "$cg" ] && { echo "FAIL cgroup left: $cg"; exit 1; }
echo "ALL OK"
