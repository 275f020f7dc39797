# Two commands do all set-up on a fresh clone: `make run` and `make test`.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: setup run test test-fast up down cluster-up cluster-down compose-up compose-down lint format bench lock minio clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	bash scripts/setup.sh

run: setup ## split the bundled samples through a real Airflow run into the embedded S3 server
	$(PY) scripts/stack.py run

test: setup lint ## lint and types, then the whole suite; starts every server it needs
	bash scripts/build-minio.sh
	bash scripts/install-chromium.sh
	bash scripts/install-cluster-deps.sh
	bash scripts/install-podman.sh
	$(PY) -m pytest

test-fast: setup ## unit tests only
	$(PY) -m pytest tests/unit -q

up: setup ## S3 server + airflow standalone on 127.0.0.1:8080, left running
	$(PY) scripts/stack.py up

down: ## stop exactly what `make up` started
	$(PY) scripts/stack.py down

cluster-up: setup ## PostgreSQL + Redis + CeleryExecutor with two workers, UI on 127.0.0.1:8081
	bash scripts/install-cluster-deps.sh
	$(PY) scripts/cluster.py up

cluster-down: ## stop exactly what `make cluster-up` started
	$(PY) scripts/cluster.py down

compose-up: setup ## docker-compose.yaml under podman on stand-in images (needs .env); CELERY=1 adds the celery profile
	bash scripts/install-podman.sh
	bash scripts/build-minio.sh
	$(PY) docker/podman_stack.py up $(if $(CELERY),--celery)

compose-down: setup ## compose down -v, then check nothing of the stack is left
	$(PY) docker/podman_stack.py down

lint: setup ## ruff (with Airflow's AIR rules), mypy (strict) over the package, the DAGs and the dev tooling, hadolint
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy plugins/paywall plugins/paywall_ui plugins/paywall_ui_plugin.py plugins/paywall_ops.py dags tests/e2e/dags devtools/paywall_dev docker/podman_stack.py
	.venv/bin/hadolint Dockerfile docker/*/Dockerfile

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

bench: setup ## throughput, rerun cost and scaling against bare S3 PUTs
	$(PY) bench/run.py

lock: ## re-resolve requirements.lock from pyproject.toml
	uv pip compile pyproject.toml --extra dev --python-version 3.11 --universal -o requirements.lock

minio:
	bash scripts/build-minio.sh

clean: down cluster-down
	rm -rf .state
