#!/bin/sh
# The GPU checks, on a machine with a CUDA GPU and a python3 that has torch and
# transformers (issue 16): the GPU tests, then the benchmark at 0.5B and 7B shapes.
#   sh scripts/gpu_run.sh [OUTDIR]        (OUTDIR: where the benchmark JSON goes; default .)
# Wheels in .whl/ (scripts/gpu_wheels.sh) are installed into /tmp first; traitgate runs
# from src/ (no install; inspect-ai, datasets and vLLM are not needed for this).
set -e
out=${1:-.}
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/traitgate-site .whl/*.whl
  export PYTHONPATH=/tmp/traitgate-site
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}src" PYTHONUNBUFFERED=1
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"
python3 -m pytest tests/test_gpu.py -p no:cacheprovider -rs -q
python3 bench/run.py --shape 0.5b --device cuda --out "$out/scale-0.5b.json"
python3 bench/run.py --shape 7b --device cuda --out "$out/scale-7b.json"
