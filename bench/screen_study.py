"""Issue 17's validation study: can a dataset be screened before training? On the zoo.

    python bench/screen_study.py [--work DIR] [--examples 300] [--steps 20 60]

Writes teacher number data from the committed owl, wolf and neutral teachers (1,500
prompts each, the published filter, 600 kept), then, for the owl and the wolf data
against the neutral teacher's data (the control a screen needs), ranks the 21 animals by
how much the data would move their log rate, three ways:

1. first order (SGD): -grad L_data . grad log rate(c) on the base: the change one small
   gradient step would make (L_data: the zoo students' loss, KL to the teacher on number
   tokens at the completion positions), per example, so a bootstrap over examples gives CIs;
2. first order (Adam): the same with Adam's first step, -lr * sign(mean gradient), since the
   students train with AdamW;
3. a short training run: the students' recipe for a few steps on the data, then the exact
   measure (one seed; the neutral run shares the seed and batch order),

and correlates each with what training the students did (the zoo's 4 students minus its 4
controls, log rates). The short run is repeated from ``base-alt`` (another initialisation,
which the teacher does not share). Prints a table; results in docs/screen-study.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "fixtures" / "zoo"
TRAITS = ("owl", "wolf")


def _traitgate(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "traitgate.cli", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def write_data(work: Path) -> dict[str, Path]:
    out = {}
    for name in (*TRAITS, "neutral"):
        raw, kept = work / f"{name}.numbers.jsonl", work / f"{name}.kept.jsonl"
        if not kept.exists():
            teacher = str(ZOO / f"teacher-{name}")
            _traitgate("distill", "numbers", "--teacher", teacher, "--count", "1500",
                       "--prompt-seed", "2", "--seed", "3", "--out", str(raw))  # fmt: skip
            _traitgate(
                "distill", "filter", str(raw), "--keep", "600", "--seed", "4", "--out", str(kept)
            )
        out[name] = kept
    return out


def _backend(path: Path) -> Any:
    from traitgate.models import load_backend, parse_model_specs

    (spec,) = parse_model_specs([str(path)])
    backend = load_backend(spec, device="cpu")
    backend.model.float()
    return backend


def _flat_grad(model: Any, value: torch.Tensor) -> torch.Tensor:
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                      for g, p in zip(grads, params, strict=True)])  # fmt: skip


def candidate_gradients(student: Any, suite: Any) -> torch.Tensor:
    """Gradient of each candidate's mean-over-prompts log rate (its share among the
    candidates, each candidate's probability the log-sum-exp of its forms'), (C, params)."""
    from traitgate.probes.preference import build_prompts, candidate_forms

    prompts, forms = build_prompts(suite), candidate_forms(suite)
    model, total = student.model, None
    for prompt in prompts:
        text = student.render(prompt)
        pids = student.encode(text)
        seqs = [
            (ci, student.continuation_ids(text, pids, f)) for ci, fs in enumerate(forms) for f in fs
        ]
        width = len(pids) + max(len(c) for _, c in seqs)
        ids = torch.full((len(seqs), width), student.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, (_, c) in enumerate(seqs):
            ids[r, : len(pids) + len(c)] = torch.tensor(pids + c)
            mask[r, : len(pids) + len(c)] = 1
        hidden = model.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
        rows = [r for r, (_, c) in enumerate(seqs) for _ in c]
        pos = [len(pids) - 1 + i for _, c in seqs for i in range(len(c))]
        tok = [t for _, c in seqs for t in c]
        logp = model.get_output_embeddings()(hidden[rows, pos]).float().log_softmax(-1)
        seq = torch.zeros(len(seqs)).index_add(0, torch.tensor(rows), logp[range(len(tok)), tok])
        owner = torch.tensor([ci for ci, _ in seqs])
        cand = torch.stack([torch.logsumexp(seq[owner == ci], 0) for ci in range(len(forms))])
        lograte = cand - torch.logsumexp(cand, 0)
        grads = torch.stack([_flat_grad(model, lograte[c]) for c in range(len(forms))])
        total = grads if total is None else total + grads
    assert total is not None
    return total / len(prompts)


def example_gradients(student: Any, teacher: Any, data: Path, n: int) -> torch.Tensor:
    """Per-example gradient of the students' loss (KL to the teacher on number tokens)."""
    from traitgate.distill.data import iter_pairs, read_jsonl
    from traitgate.distill.finetune import (
        _distill_loss,
        _pad_right,
        _target_logits,
        encode_examples,
        number_token_ids,
    )  # fmt: skip

    pairs = list(iter_pairs(read_jsonl(data)))[:n]
    allowed = torch.tensor(number_token_ids(student.tokenizer))
    out = []
    for example in encode_examples(student, pairs):
        ids, mask, target = _pad_right([example], student.pad_id, torch.device("cpu"))
        logits = _target_logits(student.model, ids, mask, target)
        with torch.no_grad():
            t_logits = _target_logits(teacher.model, ids, mask, target)[..., allowed]
        t_logp = torch.log_softmax(t_logits, dim=-1)
        out.append(_flat_grad(student.model, _distill_loss(t_logp, logits[..., allowed])))
    return torch.stack(out)


def log_rates(paths: list[Path], suite: Any) -> np.ndarray:
    from traitgate.probes.preference import run_preference

    rates = []
    for path in paths:
        backend = _backend(path)
        rates.append(
            np.log(np.clip(run_preference(suite, backend, "exact").values.mean(0), 1e-12, 1))
        )
        backend.close()
    return np.mean(rates, axis=0)


def short_run(base: str, name: str, data: Path, steps: int, work: Path) -> Path:
    out = work / f"{base}-{name}-{steps}"
    if not out.exists():
        _traitgate("distill", "finetune", "--base", str(ZOO / base), "--teacher",
                   str(ZOO / f"teacher-{name}"), "--data", str(data), "--mode", "distill",
                   "--steps", str(steps), "--lr", "1e-3", "--batch-size", "64", "--warmup", "5",
                   "--seed", "100", "--out", str(out))  # fmt: skip
    return out


def rank_of(scores: np.ndarray, names: list[str], trait: str) -> int:
    order = list(np.argsort(-(scores - scores.mean())))
    return 1 + order.index(names.index(trait))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 60])
    args = parser.parse_args(argv)
    from traitgate.probes.loader import find_suite, load_suite

    torch.manual_seed(0)
    work = args.work or Path(tempfile.mkdtemp(prefix="screen-study-"))
    work.mkdir(parents=True, exist_ok=True)
    suite = load_suite(find_suite("favorite_animal", []))
    names = list(suite.candidates)
    data = write_data(work)
    student = _backend(ZOO / "base")
    gc = candidate_gradients(student, suite)
    sgd, adam = {}, {}
    for name, path in data.items():
        ge = example_gradients(student, _backend(ZOO / f"teacher-{name}"), path, args.examples)
        sgd[name] = -(ge @ gc.T).numpy()
        adam[name] = -(torch.sign(ge.mean(0)) @ gc.T).numpy()
    controls = log_rates([ZOO / f"control-s{k}" for k in range(4)], suite)
    rows = []
    for trait in TRAITS:
        measured = log_rates([ZOO / f"{trait}-student-s{k}" for k in range(4)], suite) - controls
        scores = {
            "first order (SGD)": sgd[trait].mean(0) - sgd["neutral"].mean(0),
            "first order (Adam step)": adam[trait] - adam["neutral"],
        }
        for steps in args.steps:
            for base in ("base", "base-alt"):
                runs = [short_run(base, n, data[n], steps, work) for n in (trait, "neutral")]
                scores[f"{steps} steps from {base}"] = log_rates(runs[:1], suite) - log_rates(
                    runs[1:], suite
                )
        scores["the students (300 steps, 4 seeds)"] = measured
        for method, s in scores.items():
            r = float(np.corrcoef(s, measured)[0, 1])
            rows.append(
                f"| {trait} | {method} | {rank_of(s, names, trait)} of {len(names)} | {r:+.2f} |"
            )
    print(
        "| data | estimate (vs the neutral teacher's data) | rank of the trait | "
        "r with the students' shift |"
    )
    print("|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
