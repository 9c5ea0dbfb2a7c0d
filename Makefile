# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export GRADIO_ANALYTICS_ENABLED := False
export DJANGO_SETTINGS_MODULE ?= legacy_django.settings

.PHONY: run test fuzz install install-test db clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all]' --group example
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[all,test]' --group example
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

db: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo

# uvicorn with the gateway's httptools protocol: gunicorn's limits on request heads (fastapi_gateway.server.head_limits).
run: db
	$(VENV)/bin/uvicorn fastapi_gateway.asgi:app --host 127.0.0.1 --port $(PORT) \
		--loop uvloop --http fastapi_gateway.server.head_limits.httptools_protocol:LimitedHttpToolsProtocol \
		--no-proxy-headers --no-server-header

# The second pass runs the session adapter over every engine against PostgreSQL and Redis.
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
test: install-test
	$(VENV)/bin/mypy
	$(PY) -m pytest $(PYTEST_ARGS)
	DATABASE_URL=$(TEST_POSTGRES_URL) $(PY) -m pytest -p no:cacheprovider -q \
		tests/gateway/identity/test_session_engines.py tests/gateway/identity/test_session.py tests/api_v2 \
		tests/gateway/routing/test_table.py tests/gateway/routing/test_shadow_faults.py tests/gateway/routing/test_traffic.py tests/gateway/routing/test_rollouts.py \
		tests/gateway/routing/test_rollout_poisoning.py tests/gateway/routing/test_coverage.py tests/parity/test_runs.py \
		tests/gateway/test_orm.py

# Every test, the browser and deployment ones included (what CI runs).
.PHONY: test-all
test-all:
	GATEWAY_TESTS=all $(MAKE) test

# The in-process core on every supported Python x Django pair (noxfile.py), each in a venv
# of its own under .nox/, the Pythons from pyenv. MATRIX_ARGS: -t ci (CI's pairs), -p 3.13,
# -R (reuse the venvs), -s NAME -- PYTEST_ARGS (e.g. the whole suite on one pair); nox -l lists.
.PHONY: matrix
matrix: install-test
	$(VENV)/bin/nox $(MATRIX_ARGS)

# The long fuzzing run: FUZZ_EXAMPLES generated inputs per target against a real server.
FUZZ_EXAMPLES ?= 10000
fuzz: install-test
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/fuzz -p no:cacheprovider -q

clean:
	rm -rf $(VENV) db.sqlite3 media staticfiles .pytest_cache .mypy_cache

# Benchmarks, on demand (not in CI): real servers on 127.0.0.1 driven by wrk, every figure a
# ratio to a baseline of the same run. BENCH_ARGS: --quick, --only a,c, --write-results.
.PHONY: bench bench-guard bench-guard-baseline
bench: install
	@$(PY) -c "import matplotlib, psutil, httpx" 2>/dev/null || $(PY) -m pip install --quiet -e '.[bench]'
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(PY) -m bench $(BENCH_ARGS)

# The counted regression guard of the gateway's hot path (also part of `make test`).
bench-guard: install-test
	$(PY) -m pytest -p no:cacheprovider -q tests/bench_guard

# After a deliberate change of the hot path's cost: rewrite bench/guard_baseline.json, commit it.
bench-guard-baseline: install-test
	BENCH_GUARD_WRITE_BASELINE=1 $(PY) -m pytest -p no:cacheprovider -q tests/bench_guard

# The container tests' base (tests/deploy/containers): Debian's podman, and a Python image made
# from Debian's packages with debootstrap (no image registry is reachable here). As root.
.PHONY: container-base
container-base:
	apt-get install -y -qq --no-install-recommends podman buildah runc debootstrap golang-github-containernetworking-plugin-dnsname
	tests/deploy/containers/make-base-image
