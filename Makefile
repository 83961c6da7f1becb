# forgetflow: `make demo` and `make test` work on a machine with only Python 3.11 and pip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint demo lock clean mlflow-ui prefect-ui

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "forgetflow needs Python 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@if $(BIN)/python -m pip list 2>/dev/null | grep -iE '^(nvidia-|cuda-)'; then \
		echo "error: a CUDA package got installed (see DESIGN.md section 5)"; exit 1; fi
	touch $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -q

demo: install
	$(BIN)/forgetflow demo

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///.forgetflow/mlflow.db --port 5000

prefect-ui: install
	PREFECT_HOME=.forgetflow/prefect PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 $(BIN)/prefect server start

lock: install
	head -n 2 requirements.lock > requirements.lock.new
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu/torch==\1/' >> requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) .forgetflow .pytest_cache
