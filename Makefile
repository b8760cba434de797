# Two commands do everything:  make reproduce  and  make test.
# Both create or refresh .venv, install bepaper into it, then run. A second call skips the
# install unless pyproject.toml or this Makefile changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The torch build to install first. Override for another machine, e.g. TORCH= (keep yours).
TORCH  ?= torch==2.14.1 torchvision==0.29.1
# The main job's settings (see configs/).
STUDY  ?= configs/synthbias_cpu.yaml
PYTEST_ARGS ?=

.PHONY: install reproduce test lint clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@if [ -n "$(TORCH)" ]; then $(BIN)/python -m pip install -q $(TORCH); fi
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

reproduce: install
	$(BIN)/bepaper study --config $(STUDY)

test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check bepaper tests bench
	$(BIN)/ruff format --check bepaper tests bench

clean:
	rm -rf $(VENV) runs data
