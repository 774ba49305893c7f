#!/usr/bin/env bash
# Runs berth's system-container checks on a cgroup v2 host with systemd as PID 1
# (the layout most users have), inside the QEMU VM from ../shared/vm/.
#   sudo bash tests/vm/systemd-v2.sh          (host side: builds, then boots the VM)
# In the VM (as $SHARE/run.sh) it imports the Debian systemd rootfs, boots it with no
# flags, checks readiness, services, exec, a published port, the clean stop, and that
# the host's cgroup tree and network are unchanged afterwards.
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
    target/x86_64-unknown-linux-gnu/release/berth "$tar"
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
$B stop s
echo "stopped in $(( ($(date +%s%N) - t0) / 1000000 )) ms, exit code $($B inspect -f '{{.State.ExitCode}}' s)"
[ "$($B inspect -f '{{.State.ExitCode}}' s)" = 0 ]
$B logs s | tail -3
$B rm s
step "network gone after the linger (BERTH_NET_LINGER_MS, 2 s)"
sleep 3
if ip -o link | grep -q berth0 || nft list tables | grep -q berth; then echo "left behind"; exit 1; fi
echo "no berth0, no berth nft table"
after=$(snap)
step "host cgroup tree unchanged"
diff <(echo "$before") <(echo "$after")
echo "ALL OK"
