# The two commands of the README: `make up` and `make test`. Both bootstrap uv and the
# workspace's locked dependencies first, so they work on a fresh machine.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null)
ifeq ($(strip $(UV)),)
UV := python3 -m uv
endif

.PHONY: up test down status logs bootstrap lint tesseract chromium

bootstrap:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv \
		|| python3 -m pip install --quiet --user uv \
		|| python3 -m pip install --quiet --user --break-system-packages uv
	@$(UV) sync --all-packages --frozen --quiet
	@command -v tesseract >/dev/null 2>&1 || $(MAKE) --no-print-directory tesseract

# OCR of images and scanned PDF pages needs the Tesseract binary (Debian's tesseract-ocr,
# English data included). Installed with apt-get, as root or through sudo.
tesseract:
	@echo "installing tesseract-ocr (OCR for images and scanned PDFs)"
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -qq tesseract-ocr >/dev/null 2>&1 \
		|| { $$SUDO apt-get update -qq >/dev/null 2>&1 && $$SUDO apt-get install -y -qq tesseract-ocr >/dev/null; }

# The widget's browser test (tests/e2e/test_widget_browser.py) drives Debian's Chromium through
# Playwright (executable_path=/usr/bin/chromium): no browser download. Installed with apt-get.
chromium:
	@echo "installing chromium (the widget's headless browser test)"
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -qq chromium >/dev/null 2>&1 \
		|| { $$SUDO apt-get update -qq >/dev/null 2>&1 && $$SUDO apt-get install -y -qq chromium >/dev/null; }

up: bootstrap
	@$(UV) run --frozen knowrithm-stack up

down: bootstrap
	@$(UV) run --frozen knowrithm-stack down

status: bootstrap
	@$(UV) run --frozen knowrithm-stack status

logs: bootstrap
	@$(UV) run --frozen knowrithm-stack logs $(SERVICE)

# The widget's browser test needs Chromium; only the test suite does, so `make up` never installs it.
test: bootstrap
	@[ -x /usr/bin/chromium ] || $(MAKE) --no-print-directory chromium
	@$(UV) run --frozen ruff check --quiet .
	@$(UV) run --frozen pytest -q -n 2 --dist loadgroup

lint: bootstrap
	@$(UV) run --frozen ruff check .
