#!/usr/bin/env bash
# berth's main job on a fresh Debian machine: build berth, build examples/systemd-sshd
# (a Debian bookworm image whose PID 1 is systemd, with openssh-server) with berth
# build, run it detached with no special flags and -p 1122:22, wait until systemd
# reports ready, and log in over ssh with a generated key. With no registry at hand,
# its base debian:bookworm is made with debootstrap and imported.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "$0: run this as root (it installs packages and starts containers): sudo bash $0" >&2
  exit 1
fi

packages=(runc tar make libseccomp-dev pkg-config debootstrap openssh-client iproute2 nftables util-linux curl ca-certificates gcc)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
source scripts/toolchain.sh
echo "== building berth"
cargo build --release -q
berth=${CARGO_TARGET_DIR:-$PWD/target}/$(rustc -vV | sed -n 's/^host: //p')/release/berth

# The same Debian systemd rootfs the tests use, made once and cached.
rootfs_tar=/var/cache/berth-testkit/debian-systemd.tar
if [ ! -f "$rootfs_tar" ]; then
  echo "== debootstrap: Debian bookworm with systemd and openssh-server (about a minute)"
  mkdir -p /var/cache/berth-testkit
  build=$(mktemp -d /var/cache/berth-testkit/demo-build.XXXXXX)
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,openssh-server,iproute2,procps \
    bookworm "$build" http://deb.debian.org/debian >/dev/null
  tar --numeric-owner -C "$build" -cf "$rootfs_tar.partial" . && mv "$rootfs_tar.partial" "$rootfs_tar"
  rm -rf "$build"
fi

work=$(mktemp -d)
cleanup() { "$berth" rm -f box >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
ssh-keygen -q -t ed25519 -N '' -f "$work/id"

set -x
"$berth" import "$rootfs_tar" debian:bookworm
"$berth" build -t demo/systemd-sshd --secret "id=authorized_keys,src=$work/id.pub" examples/systemd-sshd
"$berth" run -d --name box --hostname box -p 1122:22 --wait=ready demo/systemd-sshd
"$berth" ps
"$berth" exec box systemctl is-system-running --wait
"$berth" port box
ssh -i "$work/id" -p 1122 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
  root@127.0.0.1 'echo "logged in to $(hostname) over ssh"; systemctl is-system-running'
"$berth" stop box
"$berth" inspect -f 'exit code {{.State.ExitCode}}' box
"$berth" logs box | tail -3
"$berth" rm box
