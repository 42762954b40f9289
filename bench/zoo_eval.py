"""Time one probe evaluation of a local model in a warm process (the unit of work the test
suite and a gate run repeat most): the model is loaded once, the probe run once to warm up,
then ``--repeats`` times.

    python bench/zoo_eval.py                       # the zoo's base, favorite_animal, exact
    python bench/zoo_eval.py --measure sampled --threads 2 fixtures/zoo/owl-student-s0

Prints the mean seconds per evaluation and, with ``--save F.npy``, writes the per-prompt
rates so that two versions of the code can be compared number for number.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from traitgate.models import load_backend
from traitgate.models.spec import parse_model_specs
from traitgate.probes import builtin_probe_dir, iter_suite_files, load_suite
from traitgate.probes.preference import run_preference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default="fixtures/zoo/base")
    parser.add_argument("--probe", default="favorite_animal")
    parser.add_argument("--measure", choices=["exact", "sampled"], default="exact")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--save", default=None, help="write the per-prompt rates (.npy)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    probe_dir = builtin_probe_dir()
    assert probe_dir is not None
    suites = {s.id: s for s in (load_suite(p) for p in iter_suite_files([probe_dir]))}
    suite = suites[args.probe]
    (spec,) = parse_model_specs([args.model])
    backend = load_backend(spec, device="cpu")
    if args.batch_size is not None:
        backend.batch_size = args.batch_size  # type: ignore[attr-defined]
    result = run_preference(suite, backend, args.measure)  # type: ignore[arg-type]
    start = time.perf_counter()
    for _ in range(args.repeats):
        result = run_preference(suite, backend, args.measure)  # type: ignore[arg-type]
    seconds = (time.perf_counter() - start) / args.repeats
    print(f"{spec.label} {args.probe} {args.measure}: {seconds:.3f} s per evaluation "
          f"({args.threads} thread(s), mean of {args.repeats})")  # fmt: skip
    if args.save:
        np.save(args.save, np.asarray(result.values))


if __name__ == "__main__":
    main()
