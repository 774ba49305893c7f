#!/usr/bin/env bash
# The most complete berth demo so far, on a fresh Debian machine: build berth, make
# a busybox image from Debian's busybox-static, run it detached, exec into it, read
# its logs, stop and remove it. (The systemd + ssh story lands with the networking
# and systemd issues.)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(runc busybox-static tar libseccomp-dev pkg-config)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build --release -q
berth=$PWD/target/x86_64-unknown-linux-gnu/release/berth

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs"/{bin,etc,tmp,root,proc,sys,dev}
cp /bin/busybox "$work/rootfs/bin/"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$work/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$work/rootfs/etc/passwd"
printf 'root:x:0:\n' > "$work/rootfs/etc/group"
tar -C "$work/rootfs" -cf "$work/busybox.tar" .

set -x
"$berth" import --change 'CMD ["/bin/sh"]' "$work/busybox.tar" demo/busybox
"$berth" run --rm demo/busybox echo "hello from a berth container"
"$berth" run -d --name demo --hostname demo-box demo/busybox sh -c 'while true; do date; sleep 1; done'
"$berth" ps
"$berth" exec demo sh -c 'echo "inside $(hostname): $(id)"; grep CapEff /proc/self/status'
sleep 2
"$berth" logs --tail 2 demo
"$berth" stop -t 1 demo
"$berth" rm demo
"$berth" rmi demo/busybox
