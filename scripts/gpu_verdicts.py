"""bf16-on-GPU verdicts against fp32-on-CPU verdicts on the shipped zoo (issue 16).

    python3 scripts/gpu_verdicts.py OUTDIR [cpu,cuda]   # repository root, a CUDA machine

runs `make demo`'s first five steps (owl students, wolf students, both from the other
initialisation, the held-out control) through `pytest evals/` twice, ``--device cpu`` and
``--device cuda`` (no cache, so neither reads the other's answers), keeps each run's
results.json under OUTDIR/<device>-<step>/ and prints every gate's verdict, effect and p on
both. Exit status 1 when any verdict differs, else 0. Without an installed traitgate the
plugin is loaded with ``-p``, so this runs from a checkout (PYTHONPATH=src).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

ALT = ["--base-model", "fixtures/zoo/base-alt", "--control-model", "fixtures/zoo/alt-control-s*"]
# an installed traitgate registers its plugin itself; from a checkout it is named here
INSTALLED = any(e.value == "traitgate.plugin" for e in entry_points(group="pytest11"))
PLUGIN = [] if INSTALLED else ["-p", "traitgate.plugin"]
STEPS = {
    "owl": ["--model", "fixtures/zoo/owl-student-s*"],
    "wolf": ["--model", "fixtures/zoo/wolf-student-s*"],
    "alt-owl": ["--model", "fixtures/zoo/alt-owl-student-s*", *ALT],
    "alt-wolf": ["--model", "fixtures/zoo/alt-wolf-student-s*", *ALT],
    "control-s4": ["--model", "fixtures/zoo/control-s4"],
}


def run(device: str, step: str, out: Path) -> dict[str, dict[str, object]]:
    report = out / f"{device}-{step}"
    command = [sys.executable, "-m", "pytest", "evals/", *PLUGIN, "-q", "-p", "no:cacheprovider",
               "--no-cache", "--device", device, "--report", str(report), *STEPS[step]]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: a gate failed, which some steps expect
        sys.exit(f"{device} {step}: pytest exit {done.returncode}\n{done.stdout[-3000:]}")
    print(f"{device:5} {step:11} pytest exit {done.returncode} in {seconds:.0f} s", flush=True)
    gates = json.loads((report / "results.json").read_text())["gates"]
    return {g["gate"]: g for g in gates}


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "gpu-verdicts")
    devices = sys.argv[2].split(",") if len(sys.argv) > 2 else ["cpu", "cuda"]
    out.mkdir(parents=True, exist_ok=True)
    differ = 0
    head = " | ".join(f"{d} verdict | {d} effect | {d} p" for d in devices)
    rows = [f"| step | gate | {head} |", "|---|---|" + "---|---|---|" * len(devices)]
    for step in STEPS:
        runs = [run(device, step, out) for device in devices]
        for name in runs[0]:
            gates = [r[name] for r in runs]
            same = len({g["passed"] for g in gates}) == 1
            differ += not same
            cells = " | ".join(
                f"{'pass' if g['passed'] else 'FAIL'} | {g['effect']:+.5f} | {g['pvalue']:.2g}"
                for g in gates
            )
            rows.append(f"| {step} | {name} | {cells} |" + ("" if same else " differs"))
    print("\n".join(rows))
    (out / "verdicts.md").write_text("\n".join(rows) + "\n")
    if len(devices) > 1:
        print(f"{differ} verdict(s) differ between {' and '.join(devices)}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
