# Two commands set everything up on a fresh machine: `make demo` (the main job) and `make test`.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# Known-good stack (see README): torch/torchvision come from the local disk on Python 3.11.
PINS    := torch==2.14.1 torchvision==0.29.1

.PHONY: install demo test test-slow bench bench-quick bench-cifar export clean-nbs check-sync

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python settings.ini setup.py
	$(BIN)/pip install -q $(PINS)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job: AT against PART on the embedded MNIST-5k digits, evaluated on 500 validation digits; prints the table.
demo: $(STAMP)
	$(BIN)/part_compare --out runs/demo --epochs 8 --n_eval 500 --resume

# The notebook cells that need the CIFAR-10 archive carry the test flag `cifar`: they run when the archive is there.
CIFAR_ARCHIVE := $(wildcard ../shared/data/cifar10-jpeg.tgz)
CIFAR_FLAG    := $(if $(CIFAR_ARCHIVE),cifar)

test: $(STAMP)
	@$(if $(CIFAR_ARCHIVE),,echo "make test: no ../shared/data/cifar10-jpeg.tgz: the notebook cells flagged 'cifar' are skipped")
	$(BIN)/nbdev_test --n_workers 2 --timing $(if $(CIFAR_FLAG),--flags $(CIFAR_FLAG))
	$(BIN)/python -m pytest -q tests

# Bench-only contenders, not requirements of part_nb. --no-deps: torchattacks pins requests~=2.25, which would
# downgrade requests; everything both import is already in the stack.
BENCH_PINS   := torchcam==0.5.0 torchattacks==3.5.1
BENCH_STAMP  := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q --no-deps $(BENCH_PINS)
	touch $(BENCH_STAMP)

# Benchmarks: the cost of PART over AT/TRADES/MART and accuracy on MNIST-5k (resumable) -> bench/RESULTS.md
bench: $(BENCH_STAMP)
	$(BIN)/python bench/bench_all.py

# A smoke test of the benchmarks with small settings (minutes) -> bench/RESULTS-quick.md
bench-quick: $(BENCH_STAMP)
	$(BIN)/python bench/bench_all.py --quick

# PART on CIFAR-10 (JPEG) at CPU scale: AT/PART and TRADES/PART-T, 3 seeds, sweep, reference rule (about 4 hours on 2
# cores; resumable: stop it any time, the same command continues) -> bench/cifar/, bench/RESULTS.md's CIFAR-10 section
bench-cifar: $(STAMP)
	$(BIN)/python bench/bench_cifar.py

test-slow: $(STAMP)
	$(BIN)/nbdev_test --n_workers 2 --flags "slow $(CIFAR_FLAG)" --timing

export: $(STAMP)
	$(BIN)/nbdev_clean
	$(BIN)/nbdev_export

# Fails when the notebooks and the exported library (or cleaned notebooks) disagree with what is committed.
check-sync: $(STAMP)
	$(BIN)/nbdev_clean
	$(BIN)/nbdev_export
	@git diff --exit-code --stat -- nbs part_nb || { echo "nbdev_clean/nbdev_export changed tracked files: run 'make export' and commit"; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- part_nb)" || { echo "nbdev_export made untracked files in part_nb/:"; git status --porcelain -- part_nb; exit 1; }

# A second environment with only what part_nb needs at run time, at the newest releases that install here (fastai
# 2.8.12 with fastcore 2.x, torch and torchvision), the way a user adds part_nb to an existing fastai environment:
# fastai first, then `pip install .` without the dev extras, which must keep that fastai; then the pytest suite
# (tests/ needs no nbdev; timm, a test dependency, is installed for tests/test_timm.py). CI runs it after `make test`.
.PHONY: test-runtime
RT_VENV   := .venv-rt
RT_BIN    := $(RT_VENV)/bin
RT_STAMP  := $(RT_VENV)/.installed
RT_FASTAI := 2.8.12

$(RT_STAMP): settings.ini setup.py
	rm -rf $(RT_VENV)
	$(PY) -m venv $(RT_VENV)
	$(RT_BIN)/pip install -q --upgrade pip
	$(RT_BIN)/pip install -q torch torchvision fastai==$(RT_FASTAI) pytest timm
	$(RT_BIN)/pip install -q .
	$(RT_BIN)/python -c "import fastai, fastcore; assert fastai.__version__ == '$(RT_FASTAI)', fastai.__version__; print('runtime env: fastai', fastai.__version__, 'fastcore', fastcore.__version__)"
	touch $(RT_STAMP)

test-runtime: $(RT_STAMP)
	$(RT_BIN)/python -c "import importlib.metadata as m; print('runtime env:', ', '.join(f'{p} {m.version(p)}' for p in ('torch', 'torchvision', 'fastai', 'fastcore', 'fasttransform', 'plum-dispatch', 'pyautoattack', 'timm', 'part_nb')))"
	$(RT_BIN)/python -m pytest -q tests

# The GPU check (bench/gpu_check.py): the `#| cuda` notebook tests, PART-T under to_fp16, the benchmarks with peak CUDA
# memory and a short CIFAR-10 AT/PART comparison -> bench/RESULTS-gpu.md. Without CUDA it says that nothing was
# measured and exits 0. On a machine that reaches no registry (`make gpu-wheels` here, then carry .gpu/): bench/GPU.md.
.PHONY: gpu-wheels gpu-check
GPU_DIR   := .gpu
GPU_CIFAR ?= $(firstword $(wildcard $(GPU_DIR)/cifar10-jpeg.tgz ../shared/data/cifar10-jpeg.tgz))
GPU_PY    ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)

gpu-wheels: $(STAMP)
	$(BIN)/python bench/gpu_check.py --download-wheels $(GPU_DIR)/wheels

gpu-check:
	$(GPU_PY) bench/gpu_check.py $(if $(GPU_CIFAR),--cifar $(GPU_CIFAR)) $(if $(wildcard $(GPU_DIR)/wheels),--wheels $(GPU_DIR)/wheels)
