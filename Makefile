# The two commands: `make run` and `make test`. Everything else is a step they use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install checkers lint typecheck run test test-unit test-component test-contract test-integration test-e2e test-fuzz test-browser test-faults bench bench-quick bench-tools migrate messages kubernetes-rules clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	$(BIN)/python -c "from shared.places import ensure_index; ensure_index()"
	touch $(STAMP)

install: $(STAMP)

## The standards' own tools the tests run (package.json; versions pinned in package-lock.json).
NODE_STAMP := node_modules/.installed-stamp
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $(NODE_STAMP)

checkers: $(NODE_STAMP)

## Embedded default: all four services on one port (OIA_PORT, 8000), SQLite in OIA_DATA_DIR (./data), demo keys.
run: install
	$(BIN)/oia dev

## Every test. Integration, contract and e2e tests need PostgreSQL and RabbitMQ (TEST_POSTGRES_URL, TEST_AMQP_URL).
## In TEST_WORKERS processes (pytest-xdist; 0: one process): every test makes its own databases, queues and ports.
TEST_WORKERS ?= 3
test: install checkers lint typecheck
	$(BIN)/pytest -n $(TEST_WORKERS)

## Lint and import order (ruff; settings in pyproject.toml).
lint: install
	$(BIN)/ruff check .

## Types (mypy, settings in pyproject.toml): shared/ and oia/ strictly, services/ checked (untyped defs too).
typecheck: install
	$(BIN)/mypy shared oia services board

## The service layer against a fake unit of work and the memory bus: seconds, no host, no network.
test-unit: install checkers
	$(BIN)/pytest tests/unit

## Each service in the embedded host (in-process HTTP, SQLite, memory bus).
test-component: install checkers
	$(BIN)/pytest tests/component

test-contract: install checkers
	$(BIN)/pytest tests/contract

test-integration: install checkers
	$(BIN)/pytest tests/integration

test-e2e: install
	$(BIN)/pytest tests/e2e

## Pages in Debian's Chromium (/usr/bin/chromium, driven by Playwright) against a running `oia dev`: no request may
## leave the server, no console error; axe-core checks WCAG 2.1 AA. Screenshots go to test-output/screenshots/.
test-browser: install checkers
	$(BIN)/pytest tests/browser

## schemathesis over the four OpenAPI documents (admin and department keys): no input may get a 5xx, and every
## answer's status, media type, headers and body are ones the document declares.
## OIA_FUZZ_EXAMPLES (8) sets the fuzzing phase's examples per operation, OIA_FUZZ_SEED another deterministic run:
## raise or change them for a longer hunt.
test-fuzz: install checkers
	$(BIN)/pytest tests/fuzz

## The whole fault suite (issue 17; README, "The fault suite"): the long scenarios, each on a PostgreSQL and RabbitMQ
## of its own, and the short ones make test runs too; one line per scenario in the summary and test-output/faults.txt;
## FAULTS_RECEIVER_OUTAGE_SECONDS (600) and FAULTS_DB_OUTAGE_SECONDS (90) shorten them while developing. About half an hour.
test-faults: install checkers
	$(BIN)/pytest tests/faults tests/e2e/test_faults_short.py -o addopts=""

## The benchmarks (bench/), ours beside a peer or the raw limit in the same run, ending with one summary table that
## is saved under bench/results/<UTC timestamp>.json and shows the previous run's figures beside this run's.
## Needs the Debian package `wrk` (the C load generator; apt-get install -y wrk) and the `bench` extra (FastStream).
BENCH_STAMP := $(VENV)/.bench-stamp
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench-tools: $(BENCH_STAMP)
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install -y wrk"; exit 1; }

bench: bench-tools
	rm -rf bench/results/rows
	$(BIN)/python bench/bus.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/travel.py
	$(BIN)/python bench/alerts.py
	$(BIN)/python bench/grants.py
	$(BIN)/python bench/import_latency.py
	$(BIN)/python bench/journal_window.py
	$(BIN)/python bench/summary.py

## The same instruments on short runs (minutes): proves they work end to end; its figures are not meant.
bench-quick: bench-tools
	rm -rf bench/results/rows
	$(BIN)/python bench/bus.py --events 3000 --latency-events 1000
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/travel.py --sizes 1000,10000 --probes 200 --seconds 2 --repeats 5
	$(BIN)/python bench/alerts.py --raise 0.5 --step-seconds 3 --seconds 5
	$(BIN)/python bench/journal_window.py --sends 50
	$(BIN)/python bench/summary.py --quick

## Wording (the alerts', the board's): extract it into each folder's locale/messages.pot and merge that into each
## language's catalog; then translate what is new or fuzzy in locale/<language>/LC_MESSAGES/messages.po.
NOTIFICATIONS := services/notifications
messages: install
	for root in $(NOTIFICATIONS) board; do \
		$(BIN)/pybabel extract -F $$root/babel.cfg --project=Diplomacity --width=120 -o $$root/locale/messages.pot $$root && \
		$(BIN)/pybabel update -i $$root/locale/messages.pot -d $$root/locale --ignore-obsolete --width=120 || exit 1; \
	done

migrate: install
	$(BIN)/oia migrate all

## The alert rules (deploy/prometheus/rules/diplomacity.yml) as the Prometheus Operator's PrometheusRule for
## Kubernetes (deploy/kubernetes/components/monitoring/prometheus-rules.yaml): run after editing the rules.
kubernetes-rules: install
	$(BIN)/python deploy/kubernetes/render_rules.py

clean:
	rm -rf $(VENV) data .pytest_cache
