#!/bin/sh
# Download (here, where pip reaches PyPI) the wheels a bare GPU machine lacks for the GPU
# tests and bench/scale.py: its python3 (3.12) has torch, transformers, scipy, pyyaml,
# pytest, tqdm and matplotlib, but not pydantic. Run from the repository root; the wheels
# land in .whl/ (git-ignored through .git/info/exclude) and travel with the working tree.
set -e
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl \
  pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
