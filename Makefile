# GNU make. Run `make` or `make help` for the list of targets.
# Works from a fresh clone where only python3 (with venv + pip) exists:
# if `uv` is not on PATH, a pinned uv is installed into .bootstrap/.

.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules
.DELETE_ON_ERROR:

PYTHON     ?= python3
UV_VERSION := 0.13.9
BOOTSTRAP  := .bootstrap
VENV       := .venv
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.synced

# Use a working uv from PATH (`make UV=/path/to/uv` overrides); otherwise the
# bootstrapped one. `uv --version` (not just `command -v`) so that a pyenv shim
# without a real uv behind it does not count.
ifeq ($(origin UV),undefined)
UV := $(shell uv --version >/dev/null 2>&1 && command -v uv)
endif
ifeq ($(strip $(UV)),)
UV := $(BOOTSTRAP)/bin/uv
endif

# Never let uv try to download a Python build: use the python3 that is here.
export UV_PYTHON_DOWNLOADS := never
# Trust the OS certificate store (as pip does), not only uv's bundled roots:
# needed behind a TLS-intercepting proxy when SSL_CERT_FILE is not exported.
export UV_SYSTEM_CERTS ?= true

EXAMPLES := $(wildcard examples/*.json examples/*.yaml examples/*.yml)

.PHONY: help bootstrap test lint fmt typecheck bench bench-engine bench-service schema-json validate-examples \
	dashboard dashboard-check bench-dashboard contract contract-accept \
	migrate-up migrate-down run clean distclean

help: ## Show this help
	@echo "Usage: make <target>"
	@echo
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

$(BOOTSTRAP)/bin/uv:
	$(PYTHON) -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@touch $@

# Re-sync only when the project metadata or the lock file changes.
$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --group dev
	@touch $@

bootstrap: $(STAMP) ## Create .venv with the locked runtime + dev dependencies (installs uv if missing)

lint: $(STAMP) ## ruff check, ruff format --check, mypy, lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint contract dashboard-check ## Lint, check the generated clients and the dashboard's build, then run the test suite (without tests/performance)
	$(BIN)/pytest --ignore=tests/performance

fmt: $(STAMP) ## Format the code and apply ruff's safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP) ## Run mypy (strict)
	$(BIN)/mypy

bench-engine: $(STAMP) ## Run the engine benchmark (tests/performance/bench_engine.py)
	$(BIN)/python tests/performance/bench_engine.py

bench-service: $(STAMP) ## Service benchmark on PostgreSQL: start latency, page queries over 100k instances
	$(BIN)/python tests/performance/bench_service.py

bench: $(STAMP) ## Production shape (PostgreSQL + Redis, 1 API + 1 worker): orders/s, step latency, timer lateness, fan-out
	$(BIN)/python tests/performance/bench_distributed.py $(BENCH_ARGS)

# The frontend contract: schema.graphql + operations/ and the two clients generated from them,
# committed (frontend-contract/typescript/src/gql, frontend-contract/python/src). `contract`
# regenerates both, type-checks and builds the TypeScript client (the dashboard links it), and
# fails when anything differs from what is committed, or when the schema breaks clients built on
# the baseline (schema.baseline.graphql) without declaring it in breaking-changes.json
# (docs/sdk.md). ariadne-codegen runs in its own environment (uv tool run): it pins
# graphql-core<3.3, below the server's. Node.js 20+ and npm (the registry) for the TypeScript
# half: under CI a missing npm fails, elsewhere that half is skipped, loudly.
CONTRACT   := frontend-contract
TS_CLIENT  := $(CONTRACT)/typescript
PY_CLIENT  := $(CONTRACT)/python
TS_EXAMPLE := examples/clients/typescript
ARIADNE    := ariadne-codegen==0.19.0
GENERATED  := $(TS_CLIENT)/src/gql $(PY_CLIENT)/src
NPM_CI     := npm ci --no-audit --no-fund --loglevel=error

contract: $(STAMP) ## Regenerate the TS and Python clients, type-check; fail on drift or an undeclared breaking change
	@$(BIN)/python -m schema | diff -u $(CONTRACT)/schema.graphql - || { echo "$(CONTRACT)/schema.graphql \
		is not the schema: $(BIN)/python -m schema > $(CONTRACT)/schema.graphql" >&2; exit 1; }
	rm -rf $(PY_CLIENT)/src/workflow_engine_client
	cd $(PY_CLIENT) && $(abspath $(UV)) tool run --from $(ARIADNE) ariadne-codegen --config pyproject.toml >/dev/null
	@if ! command -v npm >/dev/null 2>&1; then \
		if [ "$${CI:-}" = "true" ]; then echo "contract: npm is missing" >&2; exit 1; fi; \
		echo "contract: TypeScript SKIPPED, npm is not installed (nor the breaking-change check)" >&2; \
	else set -e; \
		(cd $(TS_CLIENT) && $(NPM_CI) && rm -rf src/gql && npm run --silent generate >/dev/null \
			&& npm run typecheck && npm run build && npm run --silent breaking); \
		(cd $(TS_EXAMPLE) && $(NPM_CI) && npm run typecheck); \
	fi
	@if [ -n "$$(git status --porcelain --untracked-files=all -- $(GENERATED))" ]; then \
		git status --short --untracked-files=all -- $(GENERATED) >&2; \
		echo "contract: the generated clients differ from what is committed: run make contract" \
			"and commit $(GENERATED)" >&2; exit 1; fi

contract-accept: ## Release the contract: the baseline becomes schema.graphql, declared breaks are emptied
	cd $(TS_CLIENT) && npm run --silent breaking -- --accept

# The dashboard (frontend-contract/dashboard) is built into server/dashboard/, which is committed:
# `make run` needs no Node.js. Building needs Node.js 20+ and npm (the npm registry, the lock file).
DASHBOARD := frontend-contract/dashboard

dashboard: ## Build the dashboard into server/dashboard/ (npm ci + vite build); commit the result
	cd $(DASHBOARD) && npm ci --no-audit --no-fund && npm run build

# Under CI a missing npm fails; on a machine without Node.js the check is skipped, loudly.
dashboard-check: ## Rebuild the dashboard, run its unit tests, fail if server/dashboard/ differs from the build
	@if ! command -v npm >/dev/null 2>&1; then \
		if [ "$${CI:-}" = "true" ]; then echo "dashboard-check: npm is missing" >&2; exit 1; fi; \
		echo "dashboard-check: SKIPPED, npm is not installed (the committed build is not checked)" >&2; \
		exit 0; fi; \
	$(MAKE) --no-print-directory dashboard && cd $(DASHBOARD) && npm test && cd - >/dev/null && \
	if ! git diff --quiet -- server/dashboard || \
		[ -n "$$(git ls-files --others --exclude-standard server/dashboard)" ]; then \
		git status --short -- server/dashboard >&2; \
		echo "server/dashboard/ is not the build of $(DASHBOARD): run make dashboard and commit it" >&2; \
		exit 1; fi

bench-dashboard: $(STAMP) ## Dashboard responsiveness in Chromium: 10,000 instances, 1,000 events/s (PostgreSQL + Redis)
	$(BIN)/python tests/performance/bench_dashboard.py $(BENCH_ARGS)

schema-json: $(STAMP) ## Regenerate engine/definition.schema.json
	$(BIN)/workflow-engine json-schema --output engine/definition.schema.json

validate-examples: $(STAMP) ## Validate examples/*.json and examples/*.yaml with the CLI
ifeq ($(strip $(EXAMPLES)),)
	@echo "validate-examples: no examples/*.json or examples/*.yaml found" >&2; exit 1
else
	$(BIN)/workflow-engine validate $(EXAMPLES)
endif

# The database is DATABASE_URL's (postgres://user:password@host:5432/db), else the embedded
# SQLite file (SQLITE_PATH, default workflow-engine.db): alembic/env.py asks server.settings.
migrate-up: $(STAMP) ## Migrate the database to the latest revision (DATABASE_URL, else embedded SQLite)
	$(BIN)/alembic upgrade head

migrate-down: $(STAMP) ## Undo the latest migration of that database (one revision down)
	$(BIN)/alembic downgrade -1

# HANDLER_MODULES: more handler modules besides the demo's (comma-separated); SERVER_PORT: the port.
run: $(STAMP) ## Run the service embedded on SQLite with the demo: examples deployed, port 8080 (SERVER_PORT)
	HANDLER_MODULES="$${HANDLER_MODULES:-server.demo_services}" LOG_FORMAT="$${LOG_FORMAT:-text}" \
		$(BIN)/workflow-engine serve --demo

clean: ## Remove caches and build artifacts (keeps .venv)
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis \
		.import_linter_cache .coverage htmlcov
	find . -path ./$(VENV) -prune -o -path ./$(BOOTSTRAP) -prune -o \
		-type d -name __pycache__ -exec rm -rf {} +

distclean: clean ## clean, and also remove .venv and .bootstrap
	rm -rf $(VENV) $(BOOTSTRAP)

.PHONY: print-uv
print-uv: # Print the uv used (for .ci/run)
	@echo $(UV)
