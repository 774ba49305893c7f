#!/usr/bin/env bash
# Runs berth's system-container checks on a cgroup v2 host with systemd as PID 1
# (the layout most users have), inside the QEMU VM from ../shared/vm/.
#   sudo bash tests/vm/systemd-v2.sh          (host side: builds, then boots the VM)
# In the VM (as $SHARE/run.sh) it imports the Debian systemd rootfs, boots it with no
# flags, checks readiness, services, exec, a published port, the clean stop, that a
# system container cannot lift the limits berth set (with the host's nsdelegate
# guard, and again without it), and that the host's cgroup tree and network are
# unchanged afterwards.
set -euo pipefail

if [ "${1:-}" != "--in-vm" ] && [ ! -d /mnt/share ]; then
  cd "$(dirname "$0")/../.."
  cargo build --release -q
  tar=/var/cache/berth-testkit/debian-systemd.tar
  # The systemd integration tests make (and cache) the Debian systemd rootfs.
  [ -f "$tar" ] || cargo test -q -p berth --test systemd
  vm=$(cd ../shared/vm 2>/dev/null && pwd || echo /work/shared/vm)
  [ -f "${BERTH_VM_DIR:-/var/tmp/berth-vm}/rootfs.img" ] || bash "$vm/build-image.sh"
  VM_MEM=${VM_MEM:-2048} VM_TIMEOUT=${VM_TIMEOUT:-900} exec bash "$vm/run-in-vm.sh" "$0" \
    "${CARGO_TARGET_DIR:-target}/$(rustc -vV | sed -n 's/^host: //p')/release/berth" "$tar"
fi

# --- inside the VM ---
exec > /mnt/share/output 2>&1
trap 'echo $? > /mnt/share/rc' EXIT
cd /mnt/share
export BERTH_ROOT=/var/lib/berth-vmtest BERTH_RUNROOT=/run/berth-vmtest
B=./berth
snap() { find /sys/fs/cgroup -type d | sort; cat /sys/fs/cgroup/cgroup.subtree_control; grep cgroup2 /proc/self/mountinfo | cut -d' ' -f5-; }
step() { echo "== $*"; }

step "host: $(uname -r), $(stat -fc %T /sys/fs/cgroup), PID 1 = $(cat /proc/1/comm)"
before=$(snap)
$B import --change 'CMD ["/sbin/init"]' debian-systemd.tar debian-systemd >/dev/null
step "run -d --wait=ready"
t0=$(date +%s%N)
$B run -d --name s -p 1122:22 --wait=ready debian-systemd >/dev/null
echo "ready after $(( ($(date +%s%N) - t0) / 1000000 )) ms (software-emulated VM)"
$B ps
step "is-system-running"
state=$($B exec s systemctl is-system-running --wait || true)
echo "$state"
[ "$state" = running ]
step "failed units: [$($B exec s systemctl --failed --plain --no-legend)]"
[ -z "$($B exec s systemctl --failed --plain --no-legend)" ]
step "cgroup as seen inside"
$B exec s cat /proc/1/cgroup
$B exec s stat -fc %T /sys/fs/cgroup
step "restart ssh"
$B exec s systemctl restart ssh
[ "$($B exec s systemctl is-active ssh)" = active ]
step "published port: sshd's banner on 127.0.0.1:1122 (bridge, veth and nft over netlink)"
banner=$(timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/1122; head -c 7 <&3')
echo "$banner"
[ "$banner" = SSH-2.0 ]
step "stop"
t0=$(date +%s%N)
# The halt takes 3 to 13 s in this software-emulated VM on a busy host: more than
# stop's default 10 s before SIGKILL, which would read as an unclean stop.
$B stop -t 60 s
echo "stopped in $(( ($(date +%s%N) - t0) / 1000000 )) ms, exit code $($B inspect -f '{{.State.ExitCode}}' s)"
[ "$($B inspect -f '{{.State.ExitCode}}' s)" = 0 ]
$B logs s | tail -3
$B rm s
# From inside, write "max" over every limit the container's cgroup namespace root
# shows; then check the limits on berth/<id> (host side) and that they still bite.
limits_hold() {
  $B run -d --name lim --wait=ready --memory 100m --pids-limit 500 debian-systemd >/dev/null
  id=$($B inspect -f '{{.Id}}' lim)
  echo "inside: $($B exec lim cat /proc/1/cgroup); host: $(grep '^0::' /proc/$($B inspect -f '{{.State.Pid}}' lim)/cgroup)"
  $B exec lim sh -c 'for f in memory.max memory.swap.max pids.max; do
      if echo max 2>/dev/null > /sys/fs/cgroup/$f; then echo "  wrote max to $f of its namespace root"; else echo "  writing $f refused"; fi; done'
  mem=$(cat /sys/fs/cgroup/berth/$id/memory.max); pids=$(cat /sys/fs/cgroup/berth/$id/pids.max)
  echo "host: berth/<id>/memory.max=$mem pids.max=$pids"
  [ "$mem" = 104857600 ] && [ "$pids" = 500 ]
  [ "$($B exec lim systemctl is-system-running)" = running ]
  # tail keeps a line in memory until its newline: 200 MiB of zeros must be
  # OOM-killed by berth/<id>'s limit. (Not judged by the exit status: systemd inside
  # may also stop what ran beside the killed process in its scope.)
  $B exec lim sh -c 'head -c 200M /dev/zero | tail >/dev/null' || true
  ooms=$(awk '$1 == "oom_kill" {print $2}' /sys/fs/cgroup/berth/$id/memory.events)
  echo "200 MiB held inside: berth/<id> oom_kill $ooms, memory.peak $(cat /sys/fs/cgroup/berth/$id/memory.peak)"
  [ "$ooms" -ge 1 ] && [ "$(cat /sys/fs/cgroup/berth/$id/memory.peak)" -le 104857600 ]
  $B rm -f lim >/dev/null
}
step "limits hold: --memory 100m --pids-limit 500 (cgroup2 $(grep -o 'nsdelegate' /proc/self/mountinfo | head -1))"
limits_hold

step "network gone after the linger (BERTH_NET_LINGER_MS, 2 s)"
sleep 3
if ip -o link | grep -q berth0 || nft list tables | grep -q berth; then echo "left behind"; exit 1; fi
echo "no berth0, no berth nft table"
after=$(snap)
step "host cgroup tree unchanged"
diff <(echo "$before") <(echo "$after")
# Not every v2 host mounts cgroup2 with nsdelegate (the kernel's guard of a
# namespace root's files); berth's limits must hold there too.
mount -t cgroup2 -o remount,memory_recursiveprot none /sys/fs/cgroup
step "limits hold without nsdelegate: $(grep ' /sys/fs/cgroup ' /proc/self/mountinfo | cut -d' ' -f5-)"
! grep -q 'nsdelegate' <(grep ' /sys/fs/cgroup ' /proc/self/mountinfo)
limits_hold
echo "ALL OK"
