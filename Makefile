# Lagezentrum: `make demo` runs the system, `make test` passes the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system check test demo bench lock clean

setup: system $(STAMP)

# Debian packages (Java, Maven, Chromium, poppler): installs only what is missing.
system:
	bash ops/install-system-packages.sh

# The native engine is built by pip (setuptools-rust): a change of its crate rebuilds it.
NATIVE := correlation/native/Cargo.toml correlation/native/Cargo.lock $(wildcard correlation/native/src/*.rs)

$(STAMP): pyproject.toml constraints.txt map_ui/web/package-lock.json $(NATIVE)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# cargo from rustup may not be on PATH yet (a fresh shell after installing it)
	PATH="$$HOME/.cargo/bin:$$PATH" $(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	# The display's browser libraries come from the npm registry, never from a CDN at run time.
	cd map_ui/web && npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

check: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	PATH="$$HOME/.cargo/bin:$$PATH" cargo fmt --check --manifest-path correlation/native/Cargo.toml

test: setup check
	$(BIN)/lagezentrum kafka fetch
	$(BIN)/pytest -q

demo: setup
	$(BIN)/lagezentrum demo

bench: setup
	$(BIN)/lagezentrum bench engine

# Re-pin every dependency after changing pyproject.toml.
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/python -m pip install --quiet --upgrade pip
	.lockvenv/bin/python -m pip install --quiet -e '.[dev]'
	.lockvenv/bin/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
