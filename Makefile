# TomeHub — two commands: `make run` serves, `make test` checks everything.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

# The web app (web/) is built into the package, which serves it at /.
WEB_DIST  := src/tomehub/webapp/dist/index.html
WEB_STAMP := web/node_modules/.installed
WEB_FILES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/vite.config.ts \
             $(wildcard web/tsconfig*.json) web/package.json web/package-lock.json

.PHONY: run test lint typecheck importlint unit integration demo clean install web webcheck web-typecheck web-test browser ocr

# The stamp is rebuilt whenever pyproject.toml changes, so a fresh clone installs once
# and later runs start at once.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# npm ci again only when the lock file changes (npm ci empties node_modules, stamp included).
$(WEB_STAMP): web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

# Rebuilt only when a source of the app changed; `npm run build` type-checks, then bundles.
$(WEB_DIST): $(WEB_STAMP) $(WEB_FILES)
	cd web && npm run build

web: $(WEB_DIST)

# The web app's own checks, one target each so a failure says which.
web-typecheck: $(WEB_STAMP)
	cd web && npm run typecheck

web-test: $(WEB_STAMP)
	cd web && npm test

webcheck: web-typecheck web-test

# The end-to-end tests drive Debian's chromium (CI: a fresh machine, as root).
browser:
	@command -v chromium >/dev/null || { \
		echo "chromium is missing: installing Debian's package for the browser tests (apt-get install chromium)"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# Scanned PDFs are OCR'd with Debian's tesseract (English and Turkish language data). Without it
# TomeHub still runs and reads text PDFs, so a failed install warns instead of failing the build.
ocr:
	@command -v tesseract >/dev/null || { \
		echo "tesseract is missing: installing Debian's packages for OCR (apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-tur)"; \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y tesseract-ocr tesseract-ocr-eng tesseract-ocr-tur; } \
		|| echo "WARNING: OCR disabled: tesseract-ocr could not be installed; scanned PDFs will not be read (the OCR tests are skipped)." >&2; }

run: install web
	$(BIN)/tomehub serve --host $(HOST) --port $(PORT)

demo: install
	$(BIN)/tomehub demo

lint: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: install
	$(BIN)/mypy

importlint: install
	$(BIN)/lint-imports

test: lint typecheck importlint webcheck web browser ocr
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache web/node_modules src/tomehub/webapp/dist
