# The two commands of the README: `make signoff` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup chromium any-bot-env signoff signoff-verdicts allure test lint unit smoke reliability cutover sensitivity stack load load-ci load-dist bench-load mutation rehearsal clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,load]"
	touch $(STAMP)

setup: $(STAMP) chromium

## Debian's Chromium for the dashboard test (tests/cutover): installed when missing, when we are root.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update && apt-get install -y chromium; \
	  else echo "make: no chromium here: the dashboard test will be skipped (install Debian's chromium)"; fi; }

## The pywa echo bot's own virtualenv (.cache/any-bot/, pins in tests/any_bot/pywa_bot/requirements.txt), for
## tests/unit/test_framework_bot.py: the test builds it itself when missing; this builds it ahead of time.
any-bot-env: $(STAMP)
	$(BIN)/python tests/any_bot/pywa_bot/env.py

## Run the QA sign-off on the embedded local stack; prints GO / NO-GO and the report's path.
signoff: setup
	$(BIN)/easymo-qa signoff --env local

## Both verdicts, each checked: GO on the healthy stack; NO-GO with the reference's slow_reply defect on
## (600 ms before every reply): the smoke stage misses its 1 s reply budgets, the functional reply p95 is
## measured over 500 ms, and the stages after smoke don't run, so their gates (load_reply_p95...) block.
signoff-verdicts: setup
	$(BIN)/easymo-qa signoff --env local
	$(BIN)/easymo-qa verdict reports/signoff.json --expect GO
	-REFERENCE_DEFECTS=slow_reply $(BIN)/easymo-qa signoff --env local --suites smoke --skip-reliability \
	  --skip-rollback --skip-cutover --reports-dir reports/no-go
	$(BIN)/easymo-qa verdict reports/no-go/signoff.json --expect NO-GO --failed smoke_stage \
	  --failed functional_reply_p95 --failed load_reply_p95

## The staging topology on loopback: `easymo-qa simulators serve` and the reference service each in a process
## of their own (the reference's base URLs at the simulators), the harness with environments/rehearsal.yaml
## (no embedded stack): doctor passes, the complete sign-off says GO, and NO-GO under phone_only_identity.
rehearsal: setup
	$(BIN)/python tests/rehearsal/rehearse.py --reports-dir reports/rehearsal

## The last sign-off's Allure report (reports/allure-report/) from reports/allure-results, where every
## stage writes (smoke, storm, drill, cutover, load gates, the main session), with Allure 3 from npm.
## Needs Node.js (npx); nothing else does.
ALLURE_RESULTS ?= reports/allure-results
allure:
	@command -v npx >/dev/null 2>&1 || { \
	  echo "make allure: Node.js is not installed (no npx): install Node.js 20+ to render $(ALLURE_RESULTS)"; \
	  exit 1; }
	@test -d $(ALLURE_RESULTS) || { echo "make allure: no $(ALLURE_RESULTS): run make signoff first"; exit 1; }
	npx -y allure@3 generate $(ALLURE_RESULTS) --output reports/allure-report --report-name "easyMO QA sign-off"

## The project's own checks: lint, unit tests, defect sensitivity, and the sign-off's two verdicts (its
## GO run includes the smoke suite, the reliability storm, the rollback drill, the cutover checks (flags,
## rollout, dashboard), the short load run, journeys and scenarios, each gated), and the staging rehearsal.
test: lint unit sensitivity signoff-verdicts rehearsal

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

unit: setup
	$(BIN)/pytest tests/unit tests/conformance -q -n 4 -p no:cacheprovider

smoke: setup
	$(BIN)/pytest tests/smoke -q -n 2 -p no:cacheprovider

## The webhook reliability storm: 1000+ messages with retries, batches and reordering (reports/reliability.json).
reliability: setup
	$(BIN)/pytest tests/reliability -q -p no:cacheprovider

## Rollout shares, per-agent flags, the rollback drill and the dashboard in headless Chromium. They flip
## the SUT's feature flags for everyone, so they run in a session (and on a stack) of their own.
cutover: setup
	$(BIN)/pytest tests/cutover -q -p no:cacheprovider

## Three probes side by side: a probe mostly waits (stack boot, replies, deadlines), so 2 cores keep up.
sensitivity: setup
	$(BIN)/easymo-qa sensitivity --workers 3

stack: setup
	$(BIN)/easymo-qa stack up

## Load test on the local stack, headless, results in reports/load/ (summary.json, *.hdr, CSV, HTML).
## `load` is the cutover profile (100 users, 300 s); `load-ci` the short one (30 users, 30 s).
load: setup
	$(BIN)/locust -f loadtests/agents.py --config loadtests/profiles/cutover.conf

load-ci: setup
	$(BIN)/locust -f loadtests/agents.py --config loadtests/profiles/ci.conf

## Distributed on this machine: a master and WORKERS worker processes (Locust's --processes).
WORKERS ?= 2
load-dist: setup
	$(BIN)/locust -f loadtests/agents.py --config loadtests/profiles/ci.conf --processes $(WORKERS)

## Messages/s one load worker drives, vs a bare FastHttpUser; measurement error against injected delays.
bench-load: setup
	$(BIN)/python benchmarks/load_throughput.py

## Mutation testing of the black-box suite against reference/ (cosmic-ray, cosmic-ray.toml): a seeded sample,
## bounded in time, in a scratch copy of git HEAD; prints the score and the surviving mutants, writes
## reports/mutation.json and reports/mutation.md. Not part of `make test` (CPU heavy); the nightly runs more.
MUTATION_SAMPLE ?= 15
MUTATION_SEED   ?= 1
MUTATION_BUDGET ?= 600
MUTATION_ARGS   ?=
mutation: setup
	$(BIN)/easymo-qa mutation --sample $(MUTATION_SAMPLE) --seed $(MUTATION_SEED) --budget $(MUTATION_BUDGET) \
	  $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) reports/* .pytest_cache .ruff_cache
	touch reports/.keep
