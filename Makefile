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
	cargo clippy --locked --workspace --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests $(wildcard benches examples)
	$(VENV)/bin/ruff format --check python tests $(wildcard benches examples)
	$(VENV)/bin/mypy --strict python
	$(PY) -m mypy.stubtest pyetwkit._core --allowlist tests/stubtest-allowlist.txt

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
	RUSTC_BOOTSTRAP=1 cargo +debian-web clippy --locked --workspace --all-targets --target x86_64-pc-windows-msvc $(BS) -- -D warnings
	RUSTC_BOOTSTRAP=1 RUSTUP_TOOLCHAIN=debian-web $(VENV)/bin/maturin build --locked --release --target x86_64-pc-windows-gnu -Z build-std=std,panic_abort --out dist
	$(PY) -c 'import glob, zipfile; w = sorted(glob.glob("dist/pyetwkit-*-win_amd64.whl"))[-1]; \
	  assert "pyetwkit/_core.pyd" in zipfile.ZipFile(w).namelist(), w; print("Windows wheel:", w)'

.PHONY: test
test: lint test-rust test-python windows ## everything CI checks: lints, Rust and Python tests, Windows build

.PHONY: bench
bench: ## read benchmark against dissect.etl and etl-parser (own venv)
	bash benches/run.sh

.PHONY: clean
clean: ## remove build outputs (including the shared cache)
	rm -rf $(VENV) dist $(CARGO_TARGET_DIR)
