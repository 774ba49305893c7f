# Build and install berth with its man pages and shell completions.
#   make install                      # as root: /usr/local/bin/berth, man pages, completions
#   make install PREFIX=$HOME/.local  # elsewhere
#   make uninstall
# DESTDIR stages the install for a package. PROFILE=dev installs a debug build.

PREFIX ?= /usr/local
DESTDIR ?=
PROFILE ?= release
BINDIR := $(DESTDIR)$(PREFIX)/bin
MANDIR := $(DESTDIR)$(PREFIX)/share/man/man1
BASHDIR := $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHDIR := $(DESTDIR)$(PREFIX)/share/zsh/site-functions
FISHDIR := $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d

# .cargo/config.toml builds for the host's own triple (target = "host-tuple"), so
# the binary is under target/<triple>/; cargo's dev profile writes to debug/.
TRIPLE := $(shell rustc -vV | sed -n 's/^host: //p')
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
OUT_DIR := $(if $(filter dev,$(PROFILE)),debug,$(PROFILE))
BIN := $(TARGET_DIR)/$(TRIPLE)/$(OUT_DIR)/berth

.PHONY: build install uninstall
build:
	cargo build --profile $(PROFILE) -p berth

install: build
	install -D -m 0755 $(BIN) $(BINDIR)/berth
	$(BIN) __man $(MANDIR)
	install -d $(BASHDIR) $(ZSHDIR) $(FISHDIR)
	$(BIN) completion bash > $(BASHDIR)/berth
	$(BIN) completion zsh > $(ZSHDIR)/_berth
	$(BIN) completion fish > $(FISHDIR)/berth.fish

uninstall:
	rm -f $(BINDIR)/berth $(MANDIR)/berth.1 $(MANDIR)/berth-*.1
	rm -f $(BASHDIR)/berth $(ZSHDIR)/_berth $(FISHDIR)/berth.fish
