# The two commands of the README: `make up` and `make test`. Both bootstrap uv and the
# workspace's locked dependencies first, so they work on a fresh machine.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null)
ifeq ($(strip $(UV)),)
UV := python3 -m uv
endif

.PHONY: up test down status logs bootstrap lint tesseract chromium mariadb postgresql

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

# The database-connection tests start servers of their own (own port, data dir and socket) from
# Debian's binaries: a MariaDB (knowrithm_stack.mariadb) and, for the TLS tests, a PostgreSQL built
# with OpenSSL (the embedded PostgreSQL has none). Only the binaries are used: during the install a
# policy-rc.d answers 101 so no service is started, and the unit the package enables is disabled
# again. A server that was installed before is left as it is.
define install_server_binaries
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); POLICY=/usr/sbin/policy-rc.d; CREATED=; \
	if [ ! -e $$POLICY ]; then \
		printf '#!/bin/sh\nexit 101\n' | $$SUDO tee $$POLICY >/dev/null && $$SUDO chmod 755 $$POLICY && CREATED=1; \
	fi; \
	INSTALL="$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1)"; \
	$$INSTALL >/dev/null 2>&1 || { $$SUDO apt-get update -qq >/dev/null 2>&1 && $$INSTALL >/dev/null; }; \
	STATUS=$$?; \
	if [ -n "$$CREATED" ]; then $$SUDO rm -f $$POLICY; fi; \
	if command -v systemctl >/dev/null 2>&1; then $$SUDO systemctl disable --quiet $(2) >/dev/null 2>&1; fi; \
	exit $$STATUS
endef

mariadb:
	@if [ -x /usr/sbin/mariadbd ]; then echo "mariadb-server is already installed"; exit 0; fi; \
	echo "installing mariadb-server (binaries for the tests' own MariaDB; no service is started)"; \
	$(call install_server_binaries,mariadb-server,mariadb)

postgresql:
	@if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then echo "postgresql is already installed"; exit 0; fi; \
	echo "installing postgresql (binaries for the TLS tests' own PostgreSQL; no service is started)"; \
	$(call install_server_binaries,postgresql,postgresql)

up: bootstrap
	@$(UV) run --frozen knowrithm-stack up

down: bootstrap
	@$(UV) run --frozen knowrithm-stack down

status: bootstrap
	@$(UV) run --frozen knowrithm-stack status

logs: bootstrap
	@$(UV) run --frozen knowrithm-stack logs $(SERVICE)

# The widget's browser test needs Chromium and the database tests MariaDB's and PostgreSQL's binaries; only the
# test suite does, so `make up` never installs them.
test: bootstrap
	@[ -x /usr/bin/chromium ] || $(MAKE) --no-print-directory chromium
	@[ -x /usr/sbin/mariadbd ] || $(MAKE) --no-print-directory mariadb
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || $(MAKE) --no-print-directory postgresql
	@$(UV) run --frozen ruff check --quiet .
	@$(UV) run --frozen pytest -q -n 2 --dist loadgroup

lint: bootstrap
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen mypy libs/common/src libs/stack/src services/*/src
