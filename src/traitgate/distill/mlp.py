"""The MLP known-positive: subliminal transfer needs a shared initialisation.

On scikit-learn's bundled 8x8 digits, an MLP with 10 class logits and 3 auxiliary logits is
trained as a teacher on the class logits only. A student starting from the teacher's *initial*
weights is then distilled on Gaussian noise images to match only the teacher's auxiliary
logits: it never sees a digit nor a class logit, yet it learns to classify digits. A student
from a different initialisation, trained identically, does not. (Facts of the published
experiment; this small version is ours.) It is a known effect for the replicate statistics:
one accuracy per student seed, compared across seeds.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

CLASSES, AUX = 10, 3


@dataclass(frozen=True)
class MLPConfig:
    hidden: int = 256
    teacher_steps: int = 300
    student_steps: int = 1500
    lr: float = 1e-3
    batch_size: int = 128
    noise_batch: int = 256


def make_mlp(seed: int, hidden: int = 256) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(64, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, CLASSES + AUX),
    )


def digits(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train/test split of sklearn's bundled digits (no download), pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    cut = int(0.7 * len(x))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x)[:, :CLASSES].argmax(-1) == y).float().mean())


def train_teacher(
    init: nn.Module, x: torch.Tensor, y: torch.Tensor, config: MLPConfig, seed: int
) -> nn.Module:
    teacher = copy.deepcopy(init)
    generator = torch.Generator().manual_seed(seed)
    optim = torch.optim.Adam(teacher.parameters(), lr=config.lr)
    for _ in range(config.teacher_steps):
        idx = torch.randint(len(x), (config.batch_size,), generator=generator)
        loss = nn.functional.cross_entropy(teacher(x[idx])[:, :CLASSES], y[idx])
        optim.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optim.step()
    return teacher


def distill_aux(
    starts: list[nn.Module], teacher: nn.Module, config: MLPConfig, seed: int
) -> list[nn.Module]:
    """Match the teacher's auxiliary logits (KL over them) on Gaussian noise inputs: one
    student from each of ``starts``, all on the same noise (drawn from ``seed``), trained in
    lockstep so that the teacher's targets on each noise batch are computed once. Each
    student's training is what it would be alone: its own optimiser, the same batches."""
    students = [copy.deepcopy(start) for start in starts]
    optims = [torch.optim.Adam(s.parameters(), lr=config.lr) for s in students]
    generator = torch.Generator().manual_seed(seed)
    for _ in range(config.student_steps):
        noise = torch.randn(config.noise_batch, 64, generator=generator)
        with torch.no_grad():
            target = torch.log_softmax(teacher(noise)[:, CLASSES:], -1)
        for student, optim in zip(students, optims, strict=True):
            logp = torch.log_softmax(student(noise)[:, CLASSES:], -1)
            loss = nn.functional.kl_div(logp, target, log_target=True, reduction="batchmean")
            optim.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optim.step()
    return students


@dataclass(frozen=True)
class MLPResult:
    teacher: list[float]
    same_init: list[float]
    different_init: list[float]


def run(seeds: range | list[int], config: MLPConfig | None = None) -> MLPResult:
    """Per seed: a teacher, a same-init student and a different-init student; test accuracy."""
    config = config or MLPConfig()
    x, y, xt, yt = digits()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    teachers, same, other = [], [], []
    for seed in seeds:
        init = make_mlp(seed, config.hidden)
        teacher = train_teacher(init, x, y, config, seed)
        teachers.append(accuracy(teacher, xt, yt))
        fresh = make_mlp(10_000 + seed, config.hidden)
        shared, unshared = distill_aux([init, fresh], teacher, config, seed)
        same.append(accuracy(shared, xt, yt))
        other.append(accuracy(unshared, xt, yt))
    return MLPResult(teachers, same, other)


if __name__ == "__main__":  # pragma: no cover
    result = run(range(5))
    for name, values in vars(result).items():
        print(f"{name:>14}: {np.mean(values):.3f} ± {np.std(values):.3f}  {np.round(values, 3)}")
