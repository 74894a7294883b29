# The two commands of the README: `make up` and `make test`. Both bootstrap uv and the
# workspace's locked dependencies first, so they work on a fresh machine.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)

.PHONY: up test down status logs bootstrap lint

bootstrap:
	@command -v uv >/dev/null 2>&1 || [ -x "$(UV)" ] || python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
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
	@$(UV) run --frozen pytest -q

lint: bootstrap
	@$(UV) run --frozen ruff check .
