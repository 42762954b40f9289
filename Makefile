# Two commands for a fresh machine (each creates .venv if needed):
#   make demo   run the gates in evals/ on the bundled tiny models
#   make test   lint, type-check and run the test suite (what CI runs)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CI and this machine use the CPU wheel (a multi-GB CUDA build otherwise). GPU users:
#   make TORCH_SPEC=torch test     (or install torch yourself first)
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv test demo lint clean bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check '$(TORCH_SPEC)'
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(VENV)/bin/ruff check src tests fixtures scripts bench
	$(VENV)/bin/ruff format --check src tests fixtures scripts bench
	$(VENV)/bin/mypy
	$(VENV)/bin/traitgate lint probes/ evals/

test: lint
	$(PY) -m pytest tests/ -p no:cacheprovider

# The demo runs the gates on the committed zoo (fixtures/zoo, rebuilt by
# fixtures/build_zoo.py). Students distilled on the owl teacher's numbers must FAIL the owl
# gates (pytest exits 1); students from another initialisation and a held-out control pass.
# Then the release-gate flow: record the comparators once as a baseline, gate against it.
# Answers are cached in .traitgate_cache (delete it, or `traitgate cache clear`, to recompute).
DEMO_BASELINE ?= traitgate-baseline
demo: venv
	@echo; echo "=== 1/4: students of the owl teacher (4 seeds): the owl gates should FAIL (report in traitgate-report/)"
	@$(PY) -m pytest evals/ --model 'fixtures/zoo/student-s*' --report traitgate-report -p no:cacheprovider; \
	  status=$$?; if [ $$status -ne 1 ]; then echo "demo: expected failing gates (exit 1), got $$status"; exit 1; fi
	@echo; echo "=== 2/4: students from a different initialisation, against their own base and controls: every gate should pass"
	$(PY) -m pytest evals/ --model 'fixtures/zoo/alt-student-s*' --base-model fixtures/zoo/base-alt --control-model 'fixtures/zoo/alt-control-s*' -p no:cacheprovider
	@echo; echo "=== 3/4: a held-out control against the other controls: every gate should pass"
	$(PY) -m pytest evals/ --model fixtures/zoo/control-s3 --control-model 'fixtures/zoo/control-s[0-2]' -p no:cacheprovider
	@echo; echo "=== 4/4: release gate: record base + controls as a baseline, then gate the students against it (should FAIL)"
	$(PY) -m pytest evals/ --baseline-update $(DEMO_BASELINE) -p no:cacheprovider -rs -q
	@$(PY) -m pytest evals/ --model 'fixtures/zoo/student-s*' --baseline $(DEMO_BASELINE) -p no:cacheprovider; \
	  status=$$?; if [ $$status -ne 1 ]; then echo "demo: expected failing gates (exit 1), got $$status"; exit 1; fi
	@echo; echo "demo: as expected, transfer was caught in the students only (report: traitgate-report/report.html)."

# Benchmarks against inspect-ai's hf/ provider and lm-eval's HF backend (BENCHMARKS.md), in a
# venv of their own so the test venv stays what CI installs. BENCH_ARGS: e.g. --only a.
BENCH_VENV ?= .venv-bench
$(BENCH_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check '$(TORCH_SPEC)'
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	touch $@

bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .traitgate_cache traitgate-report traitgate-baseline
