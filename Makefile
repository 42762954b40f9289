# Two commands for a fresh machine (each creates .venv if needed):
#   make demo   run the gates in evals/ on the bundled tiny models
#   make test   lint, type-check and run the test suite (what CI runs)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CI and this machine use the CPU wheel (a multi-GB CUDA build otherwise). GPU users:
#   make TORCH_SPEC=torch test     (or install torch yourself first)
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv test test-fast demo lint lint-fast clean bench

# pip byte-compiles what it installs on one core; compileall does it on all of them after
# (the same .pyc files; 82 s -> 71 s on 2 cores, BENCHMARKS). Files that do not compile on
# this Python (torch ships one for 3.12) are skipped, as pip skips them.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile '$(TORCH_SPEC)'
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile -e '.[dev]'
	$(PY) -c "import compileall, sysconfig; compileall.compile_dir(sysconfig.get_paths()['purelib'], quiet=2, workers=0)"
	touch $@

venv: $(VENV)/.installed

lint: lint-fast
	$(VENV)/bin/mypy

# ruff and the probe lint: a second or two
lint-fast: venv
	$(VENV)/bin/ruff check src tests fixtures scripts bench
	$(VENV)/bin/ruff format --check src tests fixtures scripts bench
	$(VENV)/bin/traitgate lint probes/ evals/

# The suite runs in pytest-xdist workers, one per core (at most 4), each torch process on one
# thread: two multi-threaded workers on 2 cores spin against each other (3x slower than a
# serial run), single-threaded ones share them (7 min 14 s serial -> 4 min 37 s; BENCHMARKS).
PYTEST_TESTS := OMP_NUM_THREADS=1 $(PY) -m pytest tests/ -p no:cacheprovider -n auto --maxprocesses 4 --dist worksteal

# `make test` = `make lint` + the suite. mypy (15 s from a cold cache, one core) runs beside
# the suite rather than before it (its output is printed after the suite's); the fast lints
# run first. Exit status: the suite's if it failed, else mypy's.
test: lint-fast
	@log=$$(mktemp); $(VENV)/bin/mypy > $$log 2>&1 & mypy=$$!; \
	  echo "$(PYTEST_TESTS)   (mypy beside it)"; $(PYTEST_TESTS); tests=$$?; \
	  wait $$mypy; types=$$?; echo "mypy:"; cat $$log; rm -f $$log; \
	  if [ $$tests -ne 0 ]; then exit $$tests; fi; exit $$types

# the library tests without those marked slow (45 of 578: the zoo rebuild, the screens on
# real runs and the README's screen, the MLP known positive, the wheel in a fresh venv, the
# xdist and exit-code subprocess runs, kill-and-resume, the 1,000-sample fidelity checks and
# the calibration and scan/screen simulations): 1 min 34 s instead of 3 min 58 s on 2 cores
# (BENCHMARKS, tenth session), for the edit-test loop; CI runs `make test`. Slow tests are
# collected first (tests/conftest.py).
test-fast: venv
	$(PYTEST_TESTS) -m "not slow"

# The demo runs the gates on the committed zoo (fixtures/zoo, rebuilt by
# fixtures/build_zoo.py): two traits (owl, wolf), each taught to its students through
# numbers only. Students of a trait must FAIL that trait's gates (pytest exits 1) and pass
# the other trait's; students from another initialisation and a held-out control pass; the
# TruthfulQA and misalignment gates skip (the zoo is too small, and no judge is given).
# Then the release-gate flow: record the comparators once as a baseline, gate against it.
# Answers are cached in .traitgate_cache (delete it, or `traitgate cache clear`, to recompute).
DEMO_BASELINE ?= traitgate-baseline
PYTEST_DEMO := $(PY) -m pytest evals/ -p no:cacheprovider
define expect_fail
	@$(PYTEST_DEMO) $(1); status=$$?; \
	  if [ $$status -ne 1 ]; then echo "demo: expected failing gates (exit 1), got $$status"; exit 1; fi
endef
demo: venv
	@echo; echo "=== 1/6: students of the owl teacher (4 seeds): the owl gates should FAIL, the wolf gates pass (report in traitgate-report/)"
	$(call expect_fail,--model 'fixtures/zoo/owl-student-s*' --report traitgate-report)
	@echo; echo "=== 2/6: students of the wolf teacher (4 seeds): wolf-vs-control should FAIL (wolf-vs-base: below min_effect, see README), the owl gates pass"
	$(call expect_fail,--model 'fixtures/zoo/wolf-student-s*')
	@echo; echo "=== 3/6: owl students from a different initialisation, against their own base and controls: every gate should pass"
	$(PYTEST_DEMO) --model 'fixtures/zoo/alt-owl-student-s*' --base-model fixtures/zoo/base-alt --control-model 'fixtures/zoo/alt-control-s*'
	@echo; echo "=== 4/6: wolf students from a different initialisation, likewise: every gate should pass"
	$(PYTEST_DEMO) --model 'fixtures/zoo/alt-wolf-student-s*' --base-model fixtures/zoo/base-alt --control-model 'fixtures/zoo/alt-control-s*'
	@echo; echo "=== 5/6: a held-out control against the other controls: every gate should pass"
	$(PYTEST_DEMO) --model fixtures/zoo/control-s4
	@echo; echo "=== 6/6: release gate: record base + controls as a baseline, then gate the owl students against it (should FAIL)"
	$(PYTEST_DEMO) --baseline-update $(DEMO_BASELINE) -rs -q
	$(call expect_fail,--model 'fixtures/zoo/owl-student-s*' --baseline $(DEMO_BASELINE))
	@echo; echo "demo: as expected, each trait was caught in its own students only (report: traitgate-report/report.html)."

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
