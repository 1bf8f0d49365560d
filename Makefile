# pyetwkit's tasks. `make help` lists them. `make test` is what CI runs.
.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -euo pipefail -c

# Build outputs live outside the checkout so that fresh clones (CI) reuse them;
# the Linux and the Windows (debian-web) builds share it without clobbering.
CACHE ?= $(HOME)/.cache/pyetwkit
export CARGO_TARGET_DIR ?= $(CACHE)/target
export PYETWKIT_TEST_DATA ?= $(abspath ../shared)

VENV := .venv
PY := $(VENV)/bin/python
BS := -Zbuild-std=std,panic_abort
WIN_APT := rustc-web cargo-web rust-web-src rust-web-clippy gcc-mingw-w64-x86-64
WINE_APT := wine64 wine
WINE_DIR := $(CACHE)/wine
SHIM := $(WINE_DIR)/dll/bcryptprimitives.dll
WIN_TEST := cargo +debian-web test --locked --target x86_64-pc-windows-gnu -Zbuild-std=std,panic_unwind

.PHONY: help
help: ## list the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: demo
demo: ## install pyetwkit and summarise the bundled sample recording
	python3 -m pip install .
	python3 -m pyetwkit info

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## create .venv with the pinned dev tools

.PHONY: rust-tools
rust-tools: ## make sure rustfmt and clippy are installed
	@rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy

.PHONY: build-dev
build-dev: venv ## build the extension into .venv (debug)
	# maturin installs into $$VIRTUAL_ENV when set: name ours, whatever is active.
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --quiet --locked

.PHONY: lint
lint: venv rust-tools build-dev ## cargo fmt, clippy, ruff, mypy --strict, stubtest
	cargo fmt --all --check
	cargo fmt --manifest-path fuzz/Cargo.toml --check
	cargo clippy --locked --workspace --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests tools $(wildcard benches examples)
	$(VENV)/bin/ruff format --check python tests tools $(wildcard benches examples)
	$(VENV)/bin/mypy --strict python
	$(PY) -m mypy.stubtest pyetwkit._core --allowlist tests/stubtest-allowlist.txt
	$(VENV)/bin/actionlint .github/workflows/*.yml

.PHONY: test-rust
test-rust: ## cargo test
	cargo test --locked --workspace

.PHONY: test-python
test-python: build-dev ## pytest
	$(VENV)/bin/pytest

.PHONY: windows-deps
windows-deps: ## install Debian's rust-web toolchain and mingw for the Windows checks
	@if ! dpkg -s $(WIN_APT) >/dev/null 2>&1; then \
	  $$(command -v sudo || true) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$(command -v sudo || true) apt-get install -y -qq --no-install-recommends $(WIN_APT); \
	fi
	@rustup toolchain list | grep -q '^debian-web' || rustup toolchain link debian-web /usr

.PHONY: windows
windows: windows-deps venv ## clippy for x86_64-pc-windows-msvc and the Windows wheel for -gnu
	# --no-default-features: Parquet's zstd builds C, and no C compiler for MSVC exists here.
	RUSTC_BOOTSTRAP=1 cargo +debian-web clippy --locked --workspace --all-targets --no-default-features --target x86_64-pc-windows-msvc $(BS) -- -D warnings
	RUSTC_BOOTSTRAP=1 RUSTUP_TOOLCHAIN=debian-web $(VENV)/bin/maturin build --locked --release --target x86_64-pc-windows-gnu -Z build-std=std,panic_abort --out dist
	$(PY) tools/check_pyd_imports.py $$(ls -t dist/pyetwkit-*-win_amd64.whl | head -1)

# Rust std (1.78+) needs ProcessPrng from bcryptprimitives.dll, which Wine 8 lacks.
$(SHIM): tools/wine/processprng.c | windows-deps
	mkdir -p $(@D)
	x86_64-w64-mingw32-gcc -shared -O2 -s -o $@ $< -ladvapi32

.PHONY: wine-deps
wine-deps: ## install Wine (64-bit only) for test-windows
	@if ! dpkg -s $(WINE_APT) >/dev/null 2>&1; then \
	  $$(command -v sudo || true) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$(command -v sudo || true) apt-get install -y -qq --no-install-recommends $(WINE_APT); \
	fi

# test-windows runs in its own target dir (std with unwinding) and a throwaway Wine prefix;
# the shim's folder is on Wine's PATH, so doctests and test binaries alike find it.
test-windows: export CARGO_TARGET_DIR := $(CARGO_TARGET_DIR)/wine
test-windows: export WINEPREFIX := $(WINE_DIR)/prefix
test-windows: export WINEDEBUG := -all
test-windows: export WINEPATH := Z:$(subst /,\,$(WINE_DIR)/dll)
test-windows: export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER := wine
.PHONY: test-windows
test-windows: windows-deps wine-deps $(SHIM) ## pyetwkit-live's tests and pyetwkit-core's unit tests as Windows binaries, under Wine
	@test -f $(WINEPREFIX)/system.reg || { echo "creating the Wine prefix $(WINEPREFIX)"; mkdir -p $(WINE_DIR); \
	  { wineboot -i && wineserver -w; } >$(WINE_DIR)/wineboot.log 2>&1 || { cat $(WINE_DIR)/wineboot.log; exit 1; }; }
	RUSTC_BOOTSTRAP=1 $(WIN_TEST) -p pyetwkit-live
	RUSTC_BOOTSTRAP=1 $(WIN_TEST) -p pyetwkit-core --lib

# The libFuzzer targets (fuzz/): a fixed budget each in CI, longer by hand
# (make fuzz FUZZ_SECONDS=600). Stable Rust; no nightly needed.
FUZZ_SECONDS ?= 20
.PHONY: fuzz-deps
fuzz-deps: ## install a C++ compiler (libfuzzer-sys builds libFuzzer)
	@if ! command -v c++ >/dev/null; then \
	  $$(command -v sudo || true) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$(command -v sudo || true) apt-get install -y -qq --no-install-recommends g++; \
	fi

.PHONY: fuzz
fuzz: venv fuzz-deps ## run each fuzz target for FUZZ_SECONDS (default 20)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash fuzz/run.sh $(FUZZ_SECONDS)

.PHONY: test
test: lint test-rust test-python windows test-windows fuzz ## everything CI checks: lints, Rust and Python tests, Windows build, Windows tests under Wine, fuzzing

.PHONY: bench
bench: ## read benchmark against dissect.etl and etl-parser (own venv)
	bash benches/run.sh

.PHONY: clean
clean: ## remove build outputs (including the shared cache)
	rm -rf $(VENV) dist $(CARGO_TARGET_DIR) $(WINE_DIR)
