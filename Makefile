# Two commands do everything on a fresh machine: `make demo` and `make test` (`make test-all`: everything, as CI).
PYTHON ?= python3
VENV := .venv
PY ?= $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The demo pipeline; the end-to-end test runs the same target with smaller values.
DEMO_DATA ?= data/synthetic
DEMO_RUN ?= runs/demo
DEMO_TRAIN ?= 160
DEMO_TEST ?= 50
DEMO_SIZE ?= 48
DEMO_SET ?=

.PHONY: venv lint test test-all demo demo-pipeline bench bench-gpu clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

lint: venv
	$(VENV)/bin/ruff check .

# The fast suite (at most 5 minutes on 2 cores; every check against an outside reference), and
# the whole suite (CI: adds the tests marked slow), in TEST_WORKERS processes (pytest-xdist; 1:
# one process). pytest prints the slowest tests.
TEST_WORKERS ?= 2

test: lint
	$(PY) -m pytest -q -m "not slow" -n $(TEST_WORKERS)

test-all: lint
	$(PY) -m pytest -q -n $(TEST_WORKERS)

demo: venv
	@$(MAKE) --no-print-directory demo-pipeline

# data -> training -> saliency maps -> benchmark table, curves and a qualitative figure
demo-pipeline:
	@set -e; start=$$(date +%s); rm -rf $(DEMO_DATA) $(DEMO_RUN); \
	echo "== 1/5 synthetic RGB-D data -> $(DEMO_DATA)"; \
	$(PY) -m datasets.synthetic --out $(DEMO_DATA) --train $(DEMO_TRAIN) --test $(DEMO_TEST) --size 96 --seed 0; \
	echo "== 2/5 training configs/demo.yaml -> $(DEMO_RUN)"; \
	$(PY) train.py --config configs/demo.yaml --set data.root=$(DEMO_DATA) --set log.dir=$(DEMO_RUN) \
		--set data.augment.size=$(DEMO_SIZE) $(DEMO_SET); \
	echo "== 3/5 saliency maps of the trained and the untrained model"; \
	$(PY) test.py --checkpoint $(DEMO_RUN)/weights_final.pth --data-root $(DEMO_DATA)/test --datasets SYN \
		--out $(DEMO_RUN)/maps/CDINet --size $(DEMO_SIZE) --device cpu --workers 0; \
	$(PY) test.py --checkpoint $(DEMO_RUN)/weights_init.pth --data-root $(DEMO_DATA)/test --datasets SYN \
		--out $(DEMO_RUN)/maps/untrained --size $(DEMO_SIZE) --device cpu --workers 0; \
	echo "== 4/5 evaluation"; \
	$(PY) -m eval --pred $(DEMO_RUN)/maps/CDINet $(DEMO_RUN)/maps/untrained --data-root $(DEMO_DATA)/test \
		--datasets SYN --out $(DEMO_RUN)/eval; \
	echo "== 5/5 qualitative figure"; \
	$(PY) -m eval.qualitative --data-root $(DEMO_DATA)/test --dataset SYN --pred $(DEMO_RUN)/maps/CDINet \
		$(DEMO_RUN)/maps/untrained --out $(DEMO_RUN)/qualitative; \
	echo; echo "demo finished in $$(( $$(date +%s) - start )) s"; \
	echo "  TensorBoard logs : tensorboard --logdir $(DEMO_RUN)/tensorboard"; \
	echo "  checkpoint       : $(DEMO_RUN)/weights_final.pth (best on validation: $(DEMO_RUN)/best.pth)"; \
	echo "  saliency maps    : $(DEMO_RUN)/maps/CDINet/SYN/"; \
	echo "  table and curves : $(DEMO_RUN)/eval/table.md, $(DEMO_RUN)/eval/plots/"; \
	echo "  qualitative      : $(DEMO_RUN)/qualitative.png (.pdf)"

bench: venv
	$(PY) -m bench

# On a machine with a CUDA GPU: inference, training step, TFLOP/s vs the GPU's peak, a short run.
bench-gpu: venv
	$(PY) -m bench.gpu

# Only what `make demo`, `make bench` and the tests generate; data/ itself may hold your datasets.
clean:
	rm -rf $(DEMO_DATA) $(DEMO_RUN) bench/results .pytest_cache .ruff_cache
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
