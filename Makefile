# Video Mocap for Blender: environments, demo, tests, extension build.
# Every target sets up what it needs; the environments are idempotent (stamp files).

PY ?= python3
WORKER   := .venv/worker/bin/python
BLENDER  := .venv/blender/bin/python
BLENDER42 := .venv/blender42/bin/python
PIP_FLAGS := --disable-pip-version-check --no-input -q

.PHONY: all demo test test-worker test-blender test-blender42 test-slow venvs samples build bench clean

all: test

venvs: .venv/worker/.installed .venv/blender/.installed .venv/blender42/.installed

# torch first and pinned: it takes the local CPU wheel; anything asking for plain
# torch afterwards is satisfied. mediapipe without its heavy, unused dependencies.
.venv/worker/.installed: requirements/worker-torch.txt requirements/worker.txt requirements/worker-nodeps.txt
	test -x $(WORKER) || $(PY) -m venv .venv/worker
	$(WORKER) -m pip install $(PIP_FLAGS) -r requirements/worker-torch.txt
	$(WORKER) -m pip install $(PIP_FLAGS) -r requirements/worker.txt
	$(WORKER) -m pip install $(PIP_FLAGS) --no-deps -r requirements/worker-nodeps.txt
	touch $@

.venv/blender/.installed: requirements/blender.txt
	test -x $(BLENDER) || $(PY) -m venv .venv/blender
	$(BLENDER) -m pip install $(PIP_FLAGS) -r requirements/blender.txt
	touch $@

.venv/blender42/.installed: requirements/blender42.txt
	test -x $(BLENDER42) || $(PY) -m venv .venv/blender42
	$(BLENDER42) -m pip install $(PIP_FLAGS) -r requirements/blender42.txt
	touch $@

# Ground-truth sample footage (rendered by the project itself; see samples/).
samples: venvs
	$(WORKER) -m samples.generate --all

demo: venvs
	bash scripts/demo.sh

test: venvs
	$(MAKE) -k test-worker test-blender test-blender42

test-worker: .venv/worker/.installed .venv/blender/.installed
	$(WORKER) -m samples.generate --all   # ground-truth samples first: tests in tests/core use them
	$(WORKER) -m pytest tests/core tests/models tests/samples tests/reliability/worker -q --durations=10

test-blender: .venv/blender/.installed
	$(BLENDER) -m pytest tests/addon tests/test_build.py tests/reliability/blender -q --durations=10

test-blender42: .venv/blender42/.installed
	$(BLENDER42) -m pytest tests/addon tests/test_build.py -q -m compat42 --durations=10

build: .venv/blender/.installed
	$(BLENDER) build.py

bench: venvs
	$(WORKER) bench/run_all.py

clean:
	rm -rf dist out .pytest_cache
