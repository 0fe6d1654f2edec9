# Every target bootstraps .venv itself so a fresh clone needs only Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the JavaScript SDKs the tests drive (tests/js); npm ci again whenever the lock file changes
JS := tests/js
JS_STAMP := $(JS)/node_modules/.installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Without npm the JavaScript SDK tests fail saying what to install; the others still run.
$(JS_STAMP): $(JS)/package.json $(JS)/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix $(JS) --no-audit --no-fund --loglevel=error && touch $(JS_STAMP); \
	else \
		echo "warning: npm is missing (apt-get install -y nodejs npm): the JS SDK tests will fail"; \
	fi

demo: $(STAMP)
	$(BIN)/python -m onefold.demo

test: $(STAMP) $(JS_STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/pipeline.py --persons 100000
	$(BIN)/python benchmarks/febrl.py
	$(BIN)/python benchmarks/identity_scale.py --persons 10000

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(JS)/node_modules demo-workspace .pytest_cache .mypy_cache .ruff_cache
