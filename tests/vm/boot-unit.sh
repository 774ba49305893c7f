#!/usr/bin/env bash
# Containers come back after a real reboot of a cgroup v2 host with systemd as PID 1,
# through the unit `berth system install-boot-unit` writes (berth-boot.service,
# which runs `berth system boot`), in the QEMU VM from ../shared/vm/.
#   sudo bash tests/vm/boot-unit.sh          (host side: builds, then boots twice)
# The VM powers off after each script, so the reboot is two boots of one private,
# persistent copy of the VM's disk (the shared image is never written):
#   boot 1: install berth and the unit, run an --restart=always container (on the
#           default bridge), an unless-stopped one that is then stopped, and one
#           without a policy; power off with them running (nothing stops them
#           cleanly: the state says "running" with dead monitors, as after a crash).
#   boot 2: the unit has run at boot: the always container runs again, the others
#           do not; a second `system boot` starts nothing; the always container
#           still restarts when its process dies (its monitor runs in the unit).
# BERTH_BIN overrides the binary (default: a release build).
set -euo pipefail

if [ "${1:-}" != "--in-vm" ] && [ ! -d /mnt/share ]; then
  cd "$(dirname "$0")/../.."
  bin=${BERTH_BIN:-}
  if [ -z "$bin" ]; then
    cargo build --release -q -p berth
    bin=target/x86_64-unknown-linux-gnu/release/berth
  fi
  tar=/var/cache/berth-testkit/busybox-rootfs.tar
  [ -f "$tar" ] || cargo test -q -p berth --test basics -- --list >/dev/null
  vm=$(cd ../shared/vm 2>/dev/null && pwd || echo /work/shared/vm)
  shared=${BERTH_VM_DIR:-/var/tmp/berth-vm}
  [ -f "$shared/rootfs.img" ] || bash "$vm/build-image.sh"
  own=$(mktemp -d /var/tmp/berth-vm-boot.XXXXXX)
  trap 'rm -rf "$own"' EXIT
  ln -s "$shared/vmlinuz" "$shared/initrd.img" "$own/"
  cp --sparse=always "$shared/rootfs.img" "$own/rootfs.img"
  for phase in 1 2; do
    echo "=== boot $phase"
    touch "$own/boot-unit.phase$phase"
    BERTH_VM_DIR=$own VM_PERSIST=1 VM_MEM=${VM_MEM:-1536} VM_TIMEOUT=${VM_TIMEOUT:-900} \
      bash "$vm/run-in-vm.sh" "$0" "$bin" "$tar" "$own/boot-unit.phase$phase" ||
      exit $?
  done
  exit 0
fi

# --- inside the VM ---
exec > /mnt/share/output 2>&1
trap 'echo $? > /mnt/share/rc' EXIT
cd /mnt/share
B=/usr/local/bin/berth
step() { echo "== $*"; }
status() { $B inspect -f '{{.State.Status}} restarts={{.RestartCount}}' "$1"; }
wait_status() { # NAME WANT: poll (120 s at most, the VM is slow)
  for _ in $(seq 600); do [ "$($B inspect -f '{{.State.Status}}' "$1")" = "$2" ] && return 0; sleep 0.2; done
  echo "$1 never became $2: $(status "$1")"; return 1
}

if [ -f boot-unit.phase1 ]; then
  step "boot 1: $(uname -r), $(stat -fc %T /sys/fs/cgroup), PID 1 = $(cat /proc/1/comm)"
  install -m 0755 berth $B
  $B import --change 'CMD ["/bin/sh"]' busybox-rootfs.tar busybox >/dev/null
  $B run -d --name always --restart=always busybox sleep 100000 >/dev/null
  $B run -d --name stopped --restart=unless-stopped busybox sleep 100000 >/dev/null
  $B run -d --name plain --network none busybox sleep 100000 >/dev/null
  $B stop -t 0 stopped >/dev/null
  $B ps -a
  step "install-boot-unit"
  $B system install-boot-unit
  systemctl is-enabled berth-boot.service
  cat /etc/systemd/system/berth-boot.service
  step "power off with always and plain running"
  exit 0
fi

step "boot 2: berth-boot.service is $(systemctl is-active berth-boot.service)"
systemctl status --no-pager berth-boot.service | head -20 || true
[ "$(systemctl is-active berth-boot.service)" = active ]
wait_status always running
$B ps -a
echo "always: $(status always); stopped: $(status stopped); plain: $(status plain)"
[ "$($B inspect -f '{{.State.Status}}' stopped)" = exited ]
[ "$($B inspect -f '{{.State.Status}}' plain)" = exited ]
step "a second boot starts nothing: [$($B system boot)]"
[ -z "$($B system boot)" ]
step "the always container's monitor (in the unit's cgroup) still restarts it"
pid=$($B inspect -f '{{.State.Pid}}' always)
grep '^0::' /proc/"$(pgrep -f "berth monitor $($B inspect -f '{{.Id}}' always)" | head -1)"/cgroup
kill -9 "$pid"
for _ in $(seq 600); do
  [ "$($B inspect -f '{{.RestartCount}} {{.State.Status}}' always)" = "1 running" ] && break
  sleep 0.2
done
echo "after kill -9 of its process: $(status always)"
[ "$($B inspect -f '{{.RestartCount}} {{.State.Status}}' always)" = "1 running" ]
$B rm -f always stopped plain >/dev/null
echo "ALL OK"
