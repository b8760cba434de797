# Two commands do everything:  make reproduce  and  make test  (and  make lab  to explore).
# Each creates or refreshes .venv and installs bepaper into it first. A second call skips the
# install unless pyproject.toml or this Makefile changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The torch build to install first. Override for another machine, e.g. TORCH= (keep yours).
TORCH  ?= torch==2.14.1 torchvision==0.29.1
# The preset every notebook runs at: smoke (minutes) | synthetic (the default) | paper.
PRESET ?= synthetic
# In this order: the BE question first (its runs serve the tables), then every table/figure.
NOTEBOOKS := quickstart figure3 be_question table1 table4 table2 table3 figure4 figure5 \
             figures6_7 bias_tests
# At PRESET=paper, those with a paper path (real data): the others are SynthBias-only (its
# generator, its ground truth, the BE question's study) and would stop make reproduce.
PAPER_NOTEBOOKS := table1 table4 table2 table3 figure4 figure5 figures6_7
# At PRESET=paper: RUN_MISSING=1 trains the missing runs inside the notebooks (in order,
# resumably) instead of printing their commands; `bepaper plan` does the same from a shell.
RUN_MISSING ?=
# At PRESET synthetic or smoke, the runs of every notebook are made first by `bepaper plan
# --study --figures --run-missing`, JOBS processes at once with one thread each (2 cores: 2); the
# notebooks then find them finished. JOBS=1 trains in one process instead.
JOBS ?= 2
# make test skips the tests marked slow (the notebooks, end-to-end runs): minutes on 2 cores.
# Everything, as CI runs it:  make test PYTEST_ARGS=
PYTEST_ARGS ?= -m "not slow"
# JupyterLab refuses to run as root unless told (containers often are root)
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install reproduce test lab lint clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@if [ -n "$(TORCH)" ]; then $(BIN)/python -m pip install -q $(TORCH); fi
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# Every notebook through papermill; the executed copies go beside their tables and figures.
# figures/<preset>/timing.csv records the call: the install (seconds when already done),
# each notebook's seconds and the runs it trained (started or resumed, as its executed copy
# prints them: other processes writing to runs/ at the same time are not counted). A call
# that trained nothing (a redraw) writes timing_redraw.csv instead, so the measured full run
# is kept.
START := $(shell date +%s)
reproduce: install
	@mkdir -p figures/$(PRESET) runs
	@machine="$$($(BIN)/python -c 'from bepaper.report import machine; print(machine())')"; \
	t=figures/$(PRESET)/.timing.csv; trained=0; \
	echo "notebook,seconds,new_runs,machine" > $$t; \
	echo "install,$$(( $$(date +%s) - $(START) )),0,\"$$machine\"" >> $$t; \
	if [ "$(PRESET)" != paper ]; then \
	  echo "== bepaper plan --preset $(PRESET) --study --figures --run-missing --jobs $(JOBS)"; \
	  start=$$(date +%s); \
	  ( $(BIN)/bepaper plan --preset $(PRESET) --study --figures --run-missing --jobs $(JOBS) 2>&1; \
	    echo "exit $$?" ) | tee runs/plan_$(PRESET).log | \
	    grep --line-buffered -e '; training' -e ': done in' -e 'failed' -e 'runs done'; \
	  [ "$$(tail -1 runs/plan_$(PRESET).log)" = "exit 0" ] || \
	    { tail -20 runs/plan_$(PRESET).log; exit 1; }; \
	  new=$$(grep -c '; training' runs/plan_$(PRESET).log || true); \
	  trained=$$(( trained + new )); \
	  echo "   plan: $$(( $$(date +%s) - start )) s, $$new new runs (log runs/plan_$(PRESET).log)"; \
	  echo "plan,$$(( $$(date +%s) - start )),$$new,\"$$machine\"" >> $$t; \
	fi; \
	for nb in $(if $(filter paper,$(PRESET)),$(PAPER_NOTEBOOKS),$(NOTEBOOKS)); do \
	  echo "== notebooks/$$nb.ipynb (preset $(PRESET))"; start=$$(date +%s); \
	  $(BIN)/papermill -k python3 --cwd notebooks notebooks/$$nb.ipynb \
	    figures/$(PRESET)/$$nb.ipynb -p preset $(PRESET) \
	    $(if $(RUN_MISSING),-p run_missing True,) --no-progress-bar || exit 1; \
	  secs=$$(( $$(date +%s) - start )); \
	  new=$$(grep -c -e '"run folder: ' -e '"resuming ' figures/$(PRESET)/$$nb.ipynb || true); \
	  trained=$$(( trained + new )); echo "   $$nb: $$secs s, $$new new runs"; \
	  echo "$$nb,$$secs,$$new,\"$$machine\"" >> $$t; \
	done; \
	if [ $$trained -eq 0 ] && [ -f figures/$(PRESET)/timing.csv ]; then \
	  mv $$t figures/$(PRESET)/timing_redraw.csv; else mv $$t figures/$(PRESET)/timing.csv; fi
	$(BIN)/bepaper readme

test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lab: install
	$(BIN)/jupyter lab notebooks/ $(LAB_ARGS)

lint: install
	$(BIN)/ruff check bepaper tests bench
	$(BIN)/ruff format --check bepaper tests bench

clean:
	rm -rf $(VENV) runs data
