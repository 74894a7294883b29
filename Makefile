# The two commands of the README: `make up` and `make test`. Both bootstrap uv and the
# workspace's locked dependencies first, so they work on a fresh machine.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null)
ifeq ($(strip $(UV)),)
UV := python3 -m uv
endif

.PHONY: up test down status logs bootstrap lint tesseract

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

up: bootstrap
	@$(UV) run --frozen knowrithm-stack up

down: bootstrap
	@$(UV) run --frozen knowrithm-stack down

status: bootstrap
	@$(UV) run --frozen knowrithm-stack status

logs: bootstrap
	@$(UV) run --frozen knowrithm-stack logs $(SERVICE)

test: bootstrap
	@$(UV) run --frozen ruff check --quiet .
	@$(UV) run --frozen pytest -q

lint: bootstrap
	@$(UV) run --frozen ruff check .
