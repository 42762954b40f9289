"""traitgate against the tools users would otherwise reach for, on the same model and prompts.

    python bench/run.py                 # all three benchmarks, one run, three ratios
    python bench/run.py --only a c      # some of them
    python bench/run.py --device cuda   # on a GPU (default: cuda when there is one)
    python bench/run.py --shape 7b --device cuda   # a random 7B-shaped model: bench/scale.py

(a) the sampled favourite-animal probe (20 prompts x 100 samples at T=1, 8 new tokens):
    traitgate's transformers backend vs inspect-ai's ``hf/`` provider running traitgate's own
    inspect task (same prompts, same sampling settings, same batch size);
(b) TruthfulQA mc1 + mc2 on local data (the fixture items, repeated with numbered questions
    to about TruthfulQA's size): traitgate vs lm-evaluation-harness's HF backend, with the
    same prompt text and continuations, so both compute the same log-probabilities (the
    script checks that the two tools' mc1 and mc2 means agree); then, once, the built-in
    ``truthfulqa_mc1_lm_eval``/``mc2_lm_eval`` suites against lm-eval's own truthfulqa task
    files (their prompt format: primer, "Q:/A:", a space before each choice);
(c) the exact vs the sampled measure on the committed zoo (4 owl students vs 4 controls):
    the compute each needs to reach p < 0.01 in the owl gate.

(a) and (b) use a randomly initialised Llama built here (``--hidden``/``--layers``; its
word-level tokenizer covers every prompt and answer), or any local model given with
``--model``. Both sides of (a) and (b) include loading the model (after one untimed load that
imports and initialises the libraries both use), answer caching is off, and each side is
timed ``--repeat`` times (default 3); ratios compare medians. Each benchmark runs in a fresh
interpreter. (c) counts model tokens (positions through forward passes, padding included)
as well as seconds: on a tiny model, seconds are mostly per-call overhead.
Needs the bench extra: ``pip install -e '.[bench]'`` (inspect-ai, lm-eval, pyinstrument).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from traitgate import tiny
from traitgate.gate import build_gate, compare_arms
from traitgate.models import parse_model_specs
from traitgate.models.hf import TransformersBackend, resolve_device
from traitgate.probes.choice import run_multiple_choice
from traitgate.probes.loader import find_suite, load_suite
from traitgate.probes.preference import run_preference
from traitgate.probes.result import ProbeResult
from traitgate.probes.schema import ChoiceData, MultipleChoiceSuite, PreferenceSuite

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_ITEMS = ROOT / "fixtures" / "data" / "truthfulqa_mc.jsonl"
ZOO = ROOT / "fixtures" / "zoo"
GOALS = {"a": 20.0, "b": 1.5, "c": 50.0}


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def repeated(fn: Callable[[], Any], times: int) -> tuple[Any, list[float]]:
    """The first value of ``fn`` and the wall-clock seconds of each of ``times`` calls (the
    machine is shared: single timings vary by tens of percent)."""
    value, first = timed(fn)
    return value, [first] + [timed(fn)[1] for _ in range(times - 1)]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# ---------------------------------------------------------------------- inputs


def builtin(name: str) -> Any:
    return load_suite(find_suite(name, []))


def write_items(directory: Path, copies: int) -> Path:
    """The fixture items ``copies`` times, each question numbered (no two requests alike)."""
    rows = [json.loads(line) for line in FIXTURE_ITEMS.read_text().splitlines() if line]
    path = directory / "truthfulqa_bench.jsonl"
    with path.open("w") as out:
        for k in range(copies):
            for row in rows:
                out.write(json.dumps({**row, "question": f"{row['question']} ({k})"}) + "\n")
    return path


def build_bench_model(directory: Path, items: Path, *, hidden: int, layers: int) -> Path:
    """A random Llama whose word-level tokenizer knows every probe prompt and answer."""
    animal = builtin("favorite_animal")
    texts = [p.text for p in animal.prompt_specs()] + list(animal.candidates)
    texts.append(builtin("truthfulqa_mc1_lm_eval").prompt_template())  # its primer
    for line in items.read_text().splitlines():
        row = json.loads(line)
        texts += [row["question"], *row["mc1_targets"]["choices"], *row["mc2_targets"]["choices"]]
    tokenizer = tiny.build_tokenizer(texts)
    model = tiny.build_model(tokenizer, seed=0, hidden=hidden, layers=layers, heads=hidden // 32)
    model.config.max_position_embeddings = 512
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def load_backend(model_dir: Path, device: str, batch_size: int) -> TransformersBackend:
    (spec,) = parse_model_specs([str(model_dir)])
    backend = TransformersBackend.from_spec(spec, device=device)
    backend.batch_size = batch_size
    return backend


# ---------------------------------------------------------------------- (a) sampled probe


def bench_sampled(args: argparse.Namespace, model_dir: Path, work: Path) -> dict[str, Any]:
    suite = builtin("favorite_animal")
    assert isinstance(suite, PreferenceSuite)
    assert suite.measures.sampled is not None
    sampled = suite.measures.sampled.model_copy(update={"samples": args.samples})
    suite = suite.model_copy(
        update={
            "prompts": suite.prompts[: args.prompts],
            "measures": suite.measures.model_copy(update={"sampled": sampled}),
        }
    )
    dev = resolve_device(args.device)

    def ours() -> ProbeResult:
        backend = load_backend(model_dir, args.device, args.batch_size)
        result = run_preference(suite, backend, "sampled", seed=0)
        sync(dev)
        backend.close()
        return result

    result, t_ours = repeated(ours, args.repeat)
    answers = int(result.values.sum())

    import inspect_ai

    from traitgate.inspect_tasks import favorite_animal

    task = favorite_animal(samples=args.samples)

    def theirs() -> Any:
        logs = inspect_ai.eval(
            task,
            model="hf/bench",
            model_args={"model_path": str(model_dir), "device": str(dev)},
            limit=args.prompts,
            max_connections=args.batch_size,
            log_dir=str(work / "inspect-logs"),
            display="none",
            seed=0,
        )
        sync(dev)
        return logs[0]

    log, t_theirs = repeated(theirs, args.repeat)
    if log.status != "success":
        raise SystemExit(f"inspect-ai run failed: {log.error}")
    usage = next(iter(log.stats.model_usage.values()))
    metrics = {
        name: float(m.value) for score in log.results.scores for name, m in score.metrics.items()
    }
    ours_rate = float(np.mean(result.trait_rates("owl")))
    named = result.values[:, : result.scored_columns].sum()
    # sampling error of the difference of two independent estimates of the pooled rate
    se = float(np.sqrt(2 * ours_rate * (1 - ours_rate) / max(named, 1)))
    agreement = {
        "traitgate_owl_rate": ours_rate,
        "inspect_owl_rate": metrics.get("trait_rate"),
        "traitgate_named_share": float(np.mean(result.covered)),
        "inspect_named_share": metrics.get("named_share"),
        "z": (metrics["trait_rate"] - ours_rate) / se if "trait_rate" in metrics else None,
    }
    return {
        "work": f"{args.prompts} prompts x {args.samples} samples, T={sampled.temperature}, "
        f"{sampled.max_new_tokens} new tokens, batch {args.batch_size}",
        "traitgate_s": t_ours,
        "traitgate_answers": answers,
        "inspect_s": t_theirs,
        "inspect_answers": len(log.samples or []),
        "inspect_output_tokens": usage.output_tokens,
        "ratio": float(np.median(t_theirs) / np.median(t_ours)),
        "rates": agreement,
    }


# ---------------------------------------------------------------------- (b) TruthfulQA


def lm_eval_tasks(directory: Path, items: Path) -> list[str]:
    """lm-eval task files scoring the same prompt and continuations as traitgate's suites:
    context ``question + newline`` (traitgate's plain prompt), each choice right after it.
    mc2 uses lm-eval's own TruthfulQA mc2 metric; mc1 its multiple-choice accuracy."""
    import lm_eval

    upstream = Path(lm_eval.__file__).parent / "tasks" / "truthfulqa"
    shutil.copy(upstream / "utils.py", directory / "utils.py")
    common = {
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"validation": str(items)}},
        "output_type": "multiple_choice",
        "validation_split": "validation",
        "num_fewshot": 0,
        "doc_to_text": "{{question}}\n",
        "target_delimiter": "",
        "doc_to_target": 0,
    }
    mc1 = {
        **common,
        "task": "bench_tqa_mc1",
        "doc_to_choice": "{{mc1_targets.choices}}",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    }
    mc2 = {
        **common,
        "task": "bench_tqa_mc2",
        "doc_to_choice": "{{mc2_targets.choices}}",
        "process_results": "!function utils.process_results_mc2",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    }
    for task in (mc1, mc2):
        text = yaml.safe_dump(task, sort_keys=False)
        text = text.replace("'!function", "!function").replace("mc2'", "mc2")
        (directory / f"{task['task']}.yaml").write_text(text)
    return [mc1["task"], mc2["task"]]


def lm_eval_upstream_tasks(directory: Path, items: Path) -> list[str]:
    """lm-eval's own truthfulqa_mc1/mc2 task files, unchanged but for the data (the local
    items instead of the hub) and the task names: what ``truthfulqa_mc1_lm_eval`` and
    ``truthfulqa_mc2_lm_eval`` claim to match."""
    import lm_eval

    upstream = Path(lm_eval.__file__).parent / "tasks" / "truthfulqa"
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(upstream / "utils.py", directory / "utils.py")
    data = (
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    validation: {json.dumps(str(items))}\n"
    )
    names = []
    for n in (1, 2):
        text = (upstream / f"truthfulqa_mc{n}.yaml").read_text()
        replaced = text.replace(
            "dataset_path: truthfulqa/truthful_qa\ndataset_name: multiple_choice\n", data
        ).replace(f"task: truthfulqa_mc{n}\n", f"task: upstream_tqa_mc{n}\n")
        replaced = "\n".join(
            line for line in replaced.splitlines() if line not in ("tag:", "  - truthfulqa")
        )
        if n == 1 and "dataset_path: json" not in replaced:
            raise RuntimeError("lm-eval's truthfulqa_mc1.yaml changed: update this benchmark")
        (directory / f"truthfulqa_mc{n}.yaml").write_text(replaced + "\n")
        names.append(f"upstream_tqa_mc{n}")
    return names


def bench_truthfulqa(
    args: argparse.Namespace, model_dir: Path, items: Path, work: Path
) -> dict[str, Any]:
    dev = resolve_device(args.device)
    suites = []
    for name in ("truthfulqa_mc1", "truthfulqa_mc2"):
        suite = builtin(name)
        assert isinstance(suite, MultipleChoiceSuite)
        suites.append(suite.model_copy(update={"data": ChoiceData(path=str(items))}))

    def ours() -> list[float]:
        backend = load_backend(model_dir, args.device, args.batch_size)
        means = [float(run_multiple_choice(s, backend).values[:, 0].mean()) for s in suites]
        sync(dev)
        backend.close()
        return means

    our_means, t_ours = repeated(ours, args.repeat)

    import lm_eval
    from lm_eval.tasks import TaskManager

    task_dir = work / "lm-eval-tasks"
    task_dir.mkdir()
    names = lm_eval_tasks(task_dir, items)

    def theirs() -> dict[str, Any]:
        out = lm_eval.simple_evaluate(
            model="hf",
            model_args=f"pretrained={model_dir},dtype=float32,add_bos_token=True",
            tasks=names,
            task_manager=TaskManager(include_path=str(task_dir)),
            device=str(dev),
            batch_size=args.batch_size,
            log_samples=False,
        )
        sync(dev)
        assert out is not None
        return dict(out["results"])

    results, t_theirs = repeated(theirs, args.repeat)
    their_means = [float(results[n]["acc,none"]) for n in names]
    n_items = sum(1 for line in items.read_text().splitlines() if line)

    # lm-eval's prompt format, once (scores only): our _lm_eval suites vs its own task files
    upstream = lm_eval_upstream_tasks(work / "lm-eval-upstream", items)
    formatted = []
    for name in ("truthfulqa_mc1_lm_eval", "truthfulqa_mc2_lm_eval"):
        suite = builtin(name)
        assert isinstance(suite, MultipleChoiceSuite)
        formatted.append(suite.model_copy(update={"data": ChoiceData(path=str(items))}))
    backend = load_backend(model_dir, args.device, args.batch_size)
    ours_fmt = [float(run_multiple_choice(s, backend).values[:, 0].mean()) for s in formatted]
    backend.close()
    out = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={model_dir},dtype=float32",
        tasks=upstream,
        task_manager=TaskManager(include_path=str(work / "lm-eval-upstream")),
        device=str(dev),
        batch_size=args.batch_size,
        log_samples=False,
    )
    assert out is not None
    theirs_fmt = [float(out["results"][n]["acc,none"]) for n in upstream]
    return {
        "work": f"mc1 + mc2 on {n_items} items, batch {args.batch_size}",
        "traitgate_s": t_ours,
        "lm_eval_s": t_theirs,
        "traitgate_mc1_mc2": our_means,
        "lm_eval_mc1_mc2": their_means,
        "agree": bool(np.allclose(our_means, their_means, atol=1e-4)),
        "ratio": float(np.median(t_theirs) / np.median(t_ours)),
        "lm_eval_format": {
            "traitgate_mc1_mc2_lm_eval": ours_fmt,
            "lm_eval_upstream_mc1_mc2": theirs_fmt,
            "agree": bool(np.allclose(ours_fmt, theirs_fmt, atol=1e-4)),
        },
    }


# ---------------------------------------------------------------------- (c) exact vs sampled


class TokenCounter:
    """Token positions through a model's forward passes (padding included): the compute
    a larger model would spend, free of the per-call overheads that dominate a tiny one."""

    def __init__(self, model: Any) -> None:
        self.tokens = 0
        model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, _module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids")
        self.tokens += int(ids.numel()) if ids is not None else 0


def bench_measures(args: argparse.Namespace) -> dict[str, Any]:
    """Each measure's compute on the zoo, and the owl gate's p-value it gives. Sampled runs
    at increasing samples per prompt, with traitgate's shared draws (every model gets the
    same random numbers: seed 0) and with independent draws per model (seed = the model's
    index), as a harness that seeds each run separately samples. Compute is the sum over
    every model's probe run (models are loaded once, outside the timings)."""
    k = args.replicates
    students = parse_model_specs([str(ZOO / "owl-student-s*")])[:k]
    controls = parse_model_specs([str(ZOO / "control-s[0-3]")])[:k]
    spec = {
        "gate": "owl",
        "probe": "favorite_animal",
        "trait": "owl",
        "compare": ["model", "control"],
        "alternative": "greater",
        "alpha": 0.01,
    }
    exact_gate = build_gate({**spec, "measure": "exact"})
    sampled_gate = build_gate({**spec, "measure": "sampled"})
    suite = exact_gate.suite
    assert isinstance(suite, PreferenceSuite)
    assert suite.measures.sampled is not None
    runs: dict[str, tuple[str, int, Any]] = {"exact": ("exact", 0, suite)}  # measure, n, suite
    for n in args.sample_grid:
        sampled = suite.measures.sampled.model_copy(update={"samples": n})
        at_n = suite.model_copy(
            update={"measures": suite.measures.model_copy(update={"sampled": sampled})}
        )
        runs[f"shared-{n}"] = ("sampled", n, at_n)
        runs[f"independent-{n}"] = ("sampled", n, at_n)
    seconds = dict.fromkeys(runs, 0.0)
    tokens = dict.fromkeys(runs, 0)
    arms: dict[str, tuple[list[ProbeResult], list[ProbeResult]]] = {k: ([], []) for k in runs}
    dev = resolve_device(args.device)
    for index, (arm, model) in enumerate([(0, m) for m in students] + [(1, m) for m in controls]):
        backend = TransformersBackend.from_spec(model, device=args.device)
        backend.batch_size = args.batch_size
        counter = TokenCounter(backend.model)
        # warm-up (first-call allocations, the tokenizer's word-continuation table) on two
        # prompts: each later run starts warm, at a sixth of a full run's cost
        run_preference(suite.model_copy(update={"prompts": suite.prompts[:2]}), backend, "exact")
        run_preference(suite.model_copy(update={"prompts": suite.prompts[:2]}), backend, "sampled")
        for key, (measure, _, at_n) in runs.items():
            seed = index + 1 if key.startswith("independent") else 0
            before = counter.tokens
            result, took = timed(
                lambda b=backend, s=at_n, m=measure, sd=seed: run_preference(s, b, m, seed=sd)
            )
            sync(dev)
            seconds[key] += took
            tokens[key] += counter.tokens - before
            arms[key][arm].append(result)
        backend.close()
    pvalues = {
        key: float(
            compare_arms(exact_gate if key == "exact" else sampled_gate, a, b).comparison.pvalue
        )
        for key, (a, b) in arms.items()
    }
    out: dict[str, Any] = {
        "work": f"{len(students)} students vs {len(controls)} controls, "
        f"{len(suite.prompt_specs())} prompts, owl gate (Student t across models, one-sided)",
        "exact": {"seconds": seconds["exact"], "tokens": tokens["exact"], "p": pvalues["exact"]},
    }
    for scheme in ("shared", "independent"):
        grid = {
            n: {"seconds": seconds[k], "tokens": tokens[k], "p": pvalues[k]}
            for n in args.sample_grid
            for k in [f"{scheme}-{n}"]
        }
        # the fewest samples from which every larger grid point also reaches p < 0.01
        # (a single lucky draw does not count)
        grid_ns = list(args.sample_grid)
        needed = next(
            (n for i, n in enumerate(grid_ns) if all(grid[m]["p"] < 0.01 for m in grid_ns[i:])),
            None,
        )
        out[scheme] = {
            "grid": grid,
            "samples_needed": needed,
            "seconds_ratio": grid[needed]["seconds"] / seconds["exact"] if needed else None,
            "tokens_ratio": grid[needed]["tokens"] / tokens["exact"] if needed else None,
        }
    out["ratio"] = out["shared"]["tokens_ratio"]
    return out


# ---------------------------------------------------------------------- main


def machine(device: str) -> str:
    dev = resolve_device(device)
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    return (
        f"{platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} "
        f"cores, {where}; torch {torch.__version__}, threads {torch.get_num_threads()}"
    )


def main(argv: list[str] | None = None) -> int:
    if "--shape" in (sys.argv[1:] if argv is None else argv):  # a real model's size: scale.py
        sys.path.insert(0, str(ROOT / "bench"))
        import scale

        return int(scale.main(argv))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=["a", "b", "c"], default=["a", "b", "c"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", type=Path, help="a local model for (a) and (b)")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--copies", type=int, default=100, help="fixture-item copies for (b)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3, help="timings per side of (a), (b)")
    parser.add_argument(
        "--sample-grid", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50, 100, 200]
    )
    parser.add_argument(
        "--replicates", type=int, default=4, help="students and controls per arm in (c) (1-4)"
    )
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    report: dict[str, Any] = {"machine": machine(args.device), "args": vars(args) | {"out": None}}
    print(report["machine"], flush=True)
    if len(args.only) > 1:  # each in a fresh interpreter: no tool's state affects another's
        report |= {
            key: run_alone(key, argv if argv is not None else sys.argv[1:]) for key in args.only
        }
    else:
        report |= run_one(args)
    summarise(args.only, report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def strip_selection(argv: list[str]) -> list[str]:
    """The options without ``--only`` and ``--out`` (and their values)."""
    rest, skip = [], False
    for token in argv:
        if token in ("--only", "--out"):
            skip = True
            continue
        if skip and not token.startswith("--"):
            continue
        skip = False
        rest.append(token)
    return rest


def run_alone(key: str, argv: list[str]) -> Any:
    """One benchmark in a child interpreter, with the same options."""
    rest = strip_selection(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        subprocess.run(
            [sys.executable, __file__, *rest, "--only", key, "--out", str(out)], check=True
        )
        return json.loads(out.read_text())[key]


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="traitgate-bench-") as tmp:
        work = Path(tmp)
        items = write_items(work, args.copies)
        model_dir = args.model
        if model_dir is None and {"a", "b"} & set(args.only):
            model_dir = build_bench_model(
                work / "model", items, hidden=args.hidden, layers=args.layers
            )
        if model_dir is not None:  # import and initialise the libraries once, untimed
            load_backend(model_dir, args.device, args.batch_size).close()
        if "a" in args.only:
            report["a"] = bench_sampled(args, model_dir, work)
            print("(a)", json.dumps(report["a"]), flush=True)
        if "b" in args.only:
            report["b"] = bench_truthfulqa(args, model_dir, items, work)
            print("(b)", json.dumps(report["b"]), flush=True)
        if "c" in args.only:
            report["c"] = bench_measures(args)
            print("(c)", json.dumps(report["c"]), flush=True)
    return report


def summarise(keys: list[str], report: dict[str, Any]) -> None:
    print()
    labels = {
        "a": "sampled probe, inspect-ai hf/ time / traitgate time",
        "b": "TruthfulQA mc1+mc2, lm-eval hf time / traitgate time",
        "c": "owl gate to p < 0.01, sampled compute / exact compute",
    }
    lines = []
    for key in keys:
        if key != "c":
            lines.append((key, report[key]["ratio"], labels[key]))
            continue
        for scheme in ("shared", "independent"):
            c = report["c"][scheme]
            where = f"{scheme} draws, {c['samples_needed']} samples/prompt needed"
            lines.append(("c", c["tokens_ratio"], f"{labels['c']}, model tokens ({where})"))
            lines.append(("c", c["seconds_ratio"], f"{labels['c']}, wall clock ({where})"))
    for key, ratio, label in lines:
        shown = f"{ratio:7.1f}x" if ratio is not None else "   n/a  "
        verdict = "met" if ratio is not None and ratio >= GOALS[key] else "MISSED"
        print(f"({key}) {shown}  {label}  (goal >= {GOALS[key]:g}x: {verdict})")
    if "b" in keys:
        b = report["b"]
        for what, agree in (
            ("bench-written task files matching traitgate's prompt", b["agree"]),
            ("lm-eval's own task files vs the _lm_eval suites", b["lm_eval_format"]["agree"]),
        ):
            print(f"(b) scores {'agree' if agree else 'DIFFER'}: {what}")


if __name__ == "__main__":
    raise SystemExit(main())
