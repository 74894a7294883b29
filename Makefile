# The two commands of the README: `make up` and `make test`. Both bootstrap uv and the
# workspace's locked dependencies first, so they work on a fresh machine.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null)
ifeq ($(strip $(UV)),)
UV := python3 -m uv
endif

.PHONY: up test down status logs bootstrap lint

bootstrap:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv \
		|| python3 -m pip install --quiet --user uv \
		|| python3 -m pip install --quiet --user --break-system-packages uv
	@$(UV) sync --all-packages --frozen --quiet

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
