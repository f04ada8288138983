# Two commands on a fresh machine: `make demo` and `make test`. Only python3 and pip are assumed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
POSTGRES_STAMP := $(VENV)/.postgres-stamp
SPARK_STAMP := $(VENV)/.spark-stamp

.PHONY: install demo test test-chaos test-ui test-spark dev lint bench bench-daily clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# LOOPWISE_ENGINE=spark builds the models on a local Spark session (installs the `spark` extra first).
demo: $(STAMP) $(if $(filter spark,$(LOOPWISE_ENGINE)),$(SPARK_STAMP))
	$(BIN)/loopwise demo

# The `postgres` extra (requirements-postgres.lock) is for the tests only: the default install does not grow.
$(POSTGRES_STAMP): requirements-postgres.lock $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-postgres.lock
	touch $(POSTGRES_STAMP)

test: $(STAMP) $(POSTGRES_STAMP)
	$(BIN)/python -m pytest

# The `spark` extra (requirements-spark.lock, about 430 MB) for LOOPWISE_ENGINE=spark; needs Java 17.
$(SPARK_STAMP): requirements-spark.lock $(STAMP)
	@command -v java >/dev/null || { echo "Spark needs Java 17 on PATH (e.g. apt-get install openjdk-17-jre-headless)"; exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-spark.lock
	touch $(SPARK_STAMP)

# The demo on a local Spark session, then every mart compared with a DuckDB build of the same raw
# data (tests/spark; several minutes). `LOOPWISE_ENGINE=spark make demo` runs the demo on Spark.
test-spark: $(STAMP) $(SPARK_STAMP)
	$(BIN)/python -m pytest -m spark tests/spark

# kill -9 the demo at several points; a plain rerun must recover (several minutes).
test-chaos: $(STAMP)
	$(BIN)/python -m pytest -m chaos tests/chaos

# The Dagster UI in headless chromium: builds a demo warehouse in $(UI_HOME) (once; about 3 minutes),
# starts `loopwise dev` on a free port and visits the main pages. Screenshots go to artifacts/ui/.
UI_HOME ?= data/ui-test
test-ui: $(STAMP)
	scripts/ui_test_setup.sh $(BIN)/python
	LOOPWISE_UI_HOME=$(UI_HOME) $(BIN)/python -m pytest -m ui tests/ui

dev: $(STAMP)
	$(BIN)/loopwise dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd dbt_project && ../$(BIN)/sqlfluff lint models

bench: $(STAMP)
	$(BIN)/python benchmarks/run_foundation.py

# The `medium` world (20k contacts, 180 days): a full build, then one daily run on top, in a few minutes.
# Its last line of output is one JSON object (benchmarks/README.md).
bench-daily: $(STAMP)
	$(BIN)/python benchmarks/bench_daily.py

clean:
	rm -rf data artifacts dbt_project/target dbt_project/logs .pytest_cache
