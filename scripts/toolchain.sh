# Sourced by demo.sh and test.sh: a Rust toolchain with rustfmt and clippy. A fresh
# Debian has none (and bookworm's packaged rustc is older than berth's dependencies
# need), so rustup installs the stable one for root when cargo is missing (the
# callers' package lists bring curl, ca-certificates and gcc).
if ! command -v cargo >/dev/null 2>&1; then
  if [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    echo "installing the Rust toolchain (rustup, stable)"
    curl -sSf https://sh.rustup.rs | sh -s -- -y -q --profile minimal -c rustfmt -c clippy
  fi
  export PATH="$HOME/.cargo/bin:$PATH"
fi
