# The two set-up commands (see README): `make run` and `make test`.
# Both create .venv and install the pinned dependencies when they changed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config.yaml
PIP_INSTALL := $(BIN)/pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: run test test-cluster lint bench-wechat bench-ballots bench-signups bench-push bench-competitions bench-learning bench-coupons bench-lottery bench-scale lock clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.runtime-installed: requirements.txt constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -r requirements-dev.txt
	touch $@

## run: install what is missing, then start the service on embedded Redis, MongoDB and fake WeChat
run: $(VENV)/.runtime-installed
	$(BIN)/python app.py --config $(CONFIG)

# The service's own code: type-checked with mypy --strict (tests and benchmarks are not).
TYPED := app.py core handlers miniprogram_api scheduler seed services storage tools wechat_bot

# Every test runs on a real (single-node) Redis Cluster, which refuses any script, transaction or
# multi-key command whose keys are not in one hash slot: the whole suite is the key-layout test. The
# standalone client paths (the embedded default: the plain pipe, the pre-encoded /wechat batch, sessions,
# ballots) run again on one plain server; tests/scale runs three service processes on a cluster and Sentinel.
STANDALONE_TESTS := tests/core/test_redis_pipe.py tests/core/test_script_batcher.py tests/core/test_ops.py \
	tests/wechat_bot/test_exactly_once.py tests/wechat_bot/test_wire.py tests/wechat_bot/test_followers.py tests/mp/test_polls.py

## test: install what is missing (Python packages, Debian's chromium and redis-server), lint, type-check, run every test
test: $(VENV)/.dev-installed lint
	@tools/ensure_chromium.sh
	@tools/ensure_redis_server.sh
	TEST_REDIS=cluster $(BIN)/python -m pytest -n 2 --dist loadfile -q --ignore=tests/scale
	TEST_REDIS=standalone $(BIN)/python -m pytest -n 2 --dist loadfile -q $(STANDALONE_TESTS)
	$(MAKE) test-cluster

## test-cluster: three service processes on a three-master Redis Cluster / Sentinel (tests/scale, one at a time)
test-cluster: $(VENV)/.dev-installed
	@tools/ensure_redis_server.sh
	$(BIN)/python -m pytest -q tests/scale

## lint: ruff (style, format) and mypy --strict over the service's code
lint: $(VENV)/.dev-installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	$(BIN)/mypy $(TYPED)

## bench-wechat: /wechat throughput beside a bare Tornado handler and WeRoBot (needs wrk: apt-get install wrk)
bench-wechat: $(VENV)/.dev-installed
	$(BIN)/python bench/wechat_callback.py

## bench-*: one benchmark each, printing a table (see bench/README.md); wrk comes from Debian
bench-ballots: $(VENV)/.dev-installed
	$(BIN)/python bench/ballots.py

bench-signups: $(VENV)/.dev-installed
	$(BIN)/python bench/signups.py

bench-push: $(VENV)/.dev-installed
	$(BIN)/python bench/push.py

bench-competitions: $(VENV)/.dev-installed
	$(BIN)/python bench/competitions.py

bench-learning: $(VENV)/.dev-installed
	$(BIN)/python bench/learning.py

bench-lottery: $(VENV)/.dev-installed
	$(BIN)/python bench/lottery_draw.py

bench-coupons: $(VENV)/.dev-installed
	$(BIN)/python bench/coupons.py

## bench-scale: three instances on a Redis Cluster vs one on standalone Redis; a 1 M push over three, one killed
bench-scale: $(VENV)/.dev-installed
	@tools/ensure_redis_server.sh
	$(BIN)/python bench/scale.py

## lock: re-pin every package after changing requirements*.txt
lock:
	rm -rf /tmp/sdgh-lock && $(PY) -m venv /tmp/sdgh-lock
	/tmp/sdgh-lock/bin/pip install -q -r requirements-dev.txt
	(echo "# Every installed package pinned (pip freeze of requirements-dev.txt). Regenerate with: make lock"; \
	 /tmp/sdgh-lock/bin/pip freeze) > constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache
