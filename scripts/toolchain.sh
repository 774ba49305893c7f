# Sourced by demo.sh and test.sh: a Rust toolchain with rustfmt and clippy. A fresh
# Debian has none, and bookworm's packaged cargo (1.65) is older than berth needs
# (cargo 1.91 for `build.target = "host-tuple"` in .cargo/config.toml, and its
# dependencies' own minimums), so rustup installs the stable one for root when cargo
# is missing or too old (the callers' package lists bring curl, ca-certificates and
# gcc).
cargo_is_new_enough() {
  local minor
  minor=$(cargo --version 2>/dev/null | sed -n 's/^cargo 1\.\([0-9]*\)\..*/\1/p')
  [ -n "$minor" ] && [ "$minor" -ge 91 ]
}
if ! cargo_is_new_enough; then
  if [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    echo "installing the Rust toolchain (rustup, stable)"
    curl -sSf https://sh.rustup.rs | sh -s -- -y -q --profile minimal -c rustfmt -c clippy
  fi
  export PATH="$HOME/.cargo/bin:$PATH"
  if ! cargo_is_new_enough; then
    echo "cargo 1.91 or newer is needed: $(cargo --version 2>&1); run: rustup update stable" >&2
    exit 1
  fi
fi
