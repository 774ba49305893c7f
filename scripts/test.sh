#!/usr/bin/env bash
# Runs berth's checks and tests as root: formatting, clippy, unit tests and the
# integration tests that start real containers. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "$0: run this as root (it installs packages and starts containers): sudo bash $0" >&2
  exit 1
fi

packages=(runc busybox-static tini tar bsdutils make libseccomp-dev pkg-config python3 debootstrap iproute2 nftables util-linux openssh-client gcc libc6-dev docker-registry skopeo apache2-utils curl ca-certificates podman docker.io procps)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

source scripts/toolchain.sh
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --workspace
