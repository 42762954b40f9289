#!/bin/sh
# The GPU checks, on a machine with a CUDA GPU and a python3 that has torch and
# transformers (issue 16): the GPU tests, the benchmark at 7B and 0.5B shapes (7B also at
# 2,000 rows a batch), then the zoo's gate verdicts in bf16 on the GPU against fp32 on the CPU.
#   sh scripts/gpu_run.sh [OUTDIR]        (OUTDIR: where the JSON and tables go; default .)
# Wheels in .whl/ (scripts/gpu_wheels.sh) are installed into /tmp first; traitgate runs
# from src/ (no install; inspect-ai, datasets and vLLM are not needed for this).
# About 10 minutes on an H200 (the verdicts: 6 of them, the CPU side most of that).
set -e
out=${1:-.}
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/traitgate-site .whl/*.whl
  export PYTHONPATH=/tmp/traitgate-site
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}src" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"
python3 -m pytest tests/test_gpu.py -p no:cacheprovider -rs -q
python3 bench/run.py --shape 7b --device cuda --out "$out/scale-7b.json"
python3 bench/run.py --shape 7b --device cuda --only a --batch-size 2000 --plain-rows 2000 \
  --out "$out/scale-7b-2000.json"
python3 bench/run.py --shape 0.5b --device cuda --out "$out/scale-0.5b.json"
python3 scripts/gpu_verdicts.py "$out/verdicts"
