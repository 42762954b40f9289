# Two commands for a fresh machine (each creates .venv if needed):
#   make demo   run the gates in evals/ on the bundled tiny models
#   make test   lint, type-check and run the test suite (what CI runs)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CI and this machine use the CPU wheel (a multi-GB CUDA build otherwise). GPU users:
#   make TORCH_SPEC=torch test     (or install torch yourself first)
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv test demo lint fixtures clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check '$(TORCH_SPEC)'
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(VENV)/bin/ruff check src tests fixtures
	$(VENV)/bin/ruff format --check src tests fixtures
	$(VENV)/bin/mypy
	$(VENV)/bin/traitgate lint probes/ evals/

test: lint
	$(PY) -m pytest tests/ -p no:cacheprovider

fixtures/tiny/.built: fixtures/build_tiny.py | venv
	$(PY) fixtures/build_tiny.py --out fixtures/tiny
	touch $@

fixtures: fixtures/tiny/.built

# The demo runs the gates twice. Candidates trained towards "owl" must FAIL the owl gates
# (pytest exits 1); a held-out neutral model, fine-tuned like the controls, must pass.
demo: venv fixtures
	@echo; echo "=== 1/2: owl-trained models (4 replicates) as candidates: owl gates should FAIL"
	@$(PY) -m pytest evals/ --model 'fixtures/tiny/owl-s*' -p no:cacheprovider; \
	  status=$$?; if [ $$status -ne 1 ]; then echo "demo: expected failing gates (exit 1), got $$status"; exit 1; fi
	@echo; echo "=== 2/2: a held-out neutral model as candidate: every gate should pass"
	$(PY) -m pytest evals/ --model fixtures/tiny/neutral-s3 -p no:cacheprovider
	@echo; echo "demo: as expected, the owl trait was caught and the neutral model passed."

clean:
	rm -rf $(VENV) fixtures/tiny .pytest_cache .mypy_cache .ruff_cache .hypothesis
