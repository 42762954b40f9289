"""traitgate compare on logs written by real ``inspect_ai.eval`` runs (scripted mockllm
models, offline): a known paired difference is detected where the unpaired test misses it,
exchangeable models are not told apart, the arm means agree with inspect's own metrics, and
logs that cannot be paired give one line saying why. The paired test's level and power are
checked on simulated benchmarks (2,000 each) with shared sample difficulty."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from traitgate.cli import main
from traitgate.errors import ConfigError
from traitgate.logcompare import compare_logs
from traitgate.stats import paired_t_test

from .judge_script import output

N = 80  # samples
# each sample's difficulty: a model of skill s answers it when difficulty < s
DIFFICULTY = np.random.default_rng(20261125).uniform(size=N)


def _model(
    skill: float, *, noise_seed: int | None = None, wrong: str = "no idea"
) -> Callable[..., object]:
    """A scripted model: right on samples easier than ``skill``; with ``noise_seed``, each
    answer is instead right with probability 1 - difficulty shifted by skill - 0.5 (own
    random draws, per call)."""
    rng = None if noise_seed is None else np.random.default_rng(noise_seed)

    def reply(messages, tools, tool_choice, config):  # type: ignore[no-untyped-def]
        i = int(messages[-1].text.split()[2])
        if rng is None:
            right = DIFFICULTY[i] < skill
        else:
            right = rng.uniform() < min(1.0, max(0.0, 1 - DIFFICULTY[i] + skill - 0.5))
        return output(str(2 * i) if right else wrong)

    return reply


def _eval(directory: Path, model: Callable[..., object], *, task: str = "sums", samples: int = N,
          epochs: int = 1, fmt: str = "eval", scorer: str = "match") -> Path:  # fmt: skip
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.model import get_model
    from inspect_ai.scorer import includes, match

    data = [
        Sample(input=f"What is {i} + {i}?", target=str(2 * i), id=f"q{i}") for i in range(samples)
    ]
    scorers = {"match": match(), "both": [match(), includes()]}[scorer]
    logs = inspect_eval(
        Task(dataset=MemoryDataset(data, name="sums"), scorer=scorers, name=task),
        model=get_model("mockllm/model", custom_outputs=model),
        epochs=epochs, log_dir=str(directory), display="none", log_format=fmt,
        log_realtime=False,  # (the finished log is the same; the run is 25% faster)
    )  # fmt: skip
    assert logs[0].status == "success"
    return Path(logs[0].location)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inspect-logs")
    return {
        "base": _eval(d / "base", _model(0.5)),
        "better": _eval(d / "better", _model(0.62)),  # right on base's samples and 12% more
        "twin-1": _eval(d / "t1", _model(0.5, noise_seed=1), epochs=3),
        "twin-2": _eval(d / "t2", _model(0.5, noise_seed=2), epochs=3, fmt="json"),
        "other-task": _eval(d / "other", _model(0.5), task="products"),
        "fewer": _eval(d / "fewer", _model(0.5), samples=N - 3),
        "two-scorers": _eval(d / "two", _model(0.5), scorer="both"),
    }


def test_known_paired_difference_is_detected_where_unpaired_misses(logs: dict[str, Path]) -> None:
    result = compare_logs([logs["better"]], [logs["base"]], fail_on="decrease")
    assert result.design == "paired samples" and result.effect > 0
    both = compare_logs([logs["better"]], [logs["base"]])
    assert both.pvalue < 0.01, both.lines()
    assert both.unpaired is not None and both.unpaired.pvalue > 0.05, both.lines()
    assert both.correlation is not None and both.correlation > 0.5
    assert not result.failed  # better, not worse
    assert compare_logs([logs["better"]], [logs["base"]], fail_on="increase").failed
    # swapped: the same p, the opposite effect, fails on decrease
    swapped = compare_logs([logs["base"]], [logs["better"]], fail_on="decrease")
    assert swapped.failed and math.isclose(swapped.effect, -both.effect)
    text = "\n".join(both.lines())
    assert "paired t over samples" in text and "unpaired" in text and "mcnemar" in text


def test_exchangeable_models_are_not_told_apart(logs: dict[str, Path]) -> None:
    """Two models with the same skill and their own random answers (3 epochs each, one log
    in .eval and one in .json): no difference, and epochs are averaged within samples."""
    result = compare_logs([logs["twin-1"]], [logs["twin-2"]], fail_on="change")
    assert result.pvalue > 0.05 and not result.failed, result.lines()
    assert result.a.epochs == (3,) and result.b.epochs == (3,)
    assert any("3 epochs per sample" in n for n in result.notes)


@pytest.mark.parametrize("name", ["base", "better", "twin-1", "twin-2"])
def test_arm_means_agree_with_inspects_own_metric(logs: dict[str, Path], name: str) -> None:
    from inspect_ai.log import read_eval_log

    result = compare_logs([logs[name]], [logs["base"]])
    accuracy = read_eval_log(str(logs[name])).results.scores[0].metrics["accuracy"].value
    assert math.isclose(result.a.mean, accuracy, abs_tol=1e-12)
    assert result.a.inspect_means == (pytest.approx(accuracy),)
    assert not any("inspect's metric is" in n for n in result.notes)


def test_replicate_logs_use_the_model_as_the_unit(logs: dict[str, Path]) -> None:
    result = compare_logs([logs["twin-1"], logs["twin-2"]], [logs["base"], logs["better"]])
    assert result.design == "replicates" and result.unpaired is None
    assert result.a.scores.shape == (2, N)


@pytest.mark.parametrize(
    ("a", "b", "scorer", "message"),
    [
        ("base", "other-task", None, "cannot pair logs of different tasks"),
        ("base", "fewer", None, "has 3 sample(s) that fewer"),
        ("two-scorers", "base", None, "several scorers (includes, match): pick one"),
        ("base", "base", "exact", "no scorer 'exact'"),
        ("base", "base", "match/key", "scores are not dicts"),
    ],
)
def test_logs_that_cannot_be_paired_say_why(
    logs: dict[str, Path], a: str, b: str, scorer: str | None, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        compare_logs([logs[a]], [logs[b]], scorer=scorer)
    assert message in str(info.value).replace(f"{logs['fewer'].name}", "fewer")
    assert "\n" not in str(info.value)


def test_not_a_log(tmp_path: Path, logs: dict[str, Path]) -> None:
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(ConfigError, match="not a readable inspect-ai log"):
        compare_logs([bad], [logs["base"]])
    with pytest.raises(ConfigError, match="no such log file"):
        compare_logs([tmp_path / "missing.eval"], [logs["base"]])


def test_command(logs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp.json"
    argv = ["compare", str(logs["base"]), str(logs["better"]), "--fail-on", "decrease"]
    assert main([*argv, "--json", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "FAIL: fail on a significant decrease" in printed
    data = json.loads(out.read_text())
    assert data["failed"] is True and data["effect"] < 0 and data["samples"] == N
    assert main([*argv, "--min-effect", "0.5"]) == 0  # smaller than 0.5
    glob_a = str(logs["twin-1"].parent / "*.eval")
    assert main(["compare", glob_a, str(logs["twin-2"]), "--fail-on", "change"]) == 0
    capsys.readouterr()
    assert main(["compare", str(logs["base"]), str(logs["other-task"])]) == 2
    assert "cannot pair" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "none-*.eval"), str(logs["base"])]) == 2


SIMS = 2000


def _benchmark(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Pass/fail scores of two models on n samples of varied difficulty (shared: the pairs
    correlate), model A's chance of passing raised by ``shift``."""
    ease = rng.uniform(0.05, 0.95, n)
    return (
        (rng.uniform(size=n) < np.clip(ease + shift, 0, 1)).astype(float),
        (rng.uniform(size=n) < ease).astype(float),
    )


@pytest.mark.parametrize("n", [30, 200])
def test_paired_test_holds_its_level(n: int) -> None:
    rng = np.random.default_rng(n)
    alpha = 0.05
    bound = alpha + 2 * math.sqrt(alpha * (1 - alpha) / SIMS)
    null = [paired_t_test(*_benchmark(rng, n, 0.0)).pvalue < alpha for _ in range(SIMS)]
    assert np.mean(null) <= bound, np.mean(null)


def test_paired_test_finds_a_known_shift_with_its_theoretical_power() -> None:
    """A shift of 0.15 on 200 samples: the power from the noncentral t, with the
    differences' mean and variance integrated over the difficulty, is 0.93. (On 30 samples
    normal theory says 0.25 and the t on differences of -1, 0 or 1 reaches 0.22, their SD
    growing with their mean: too few samples for the theory, so not checked there.)"""
    rng = np.random.default_rng(7)
    n, alpha = 200, 0.05
    found = [paired_t_test(*_benchmark(rng, n, 0.15)).pvalue < alpha for _ in range(SIMS)]
    expected = _paired_power(n, 0.15, alpha)
    assert np.mean(found) >= expected - 3 * math.sqrt(expected * (1 - expected) / SIMS), (
        np.mean(found),
        expected,
    )


def _paired_power(n: int, shift: float, alpha: float) -> float:
    from scipy import stats

    ease = np.linspace(0.05, 0.95, 100_001)
    pa, pb = np.clip(ease + shift, 0, 1), ease
    mean = float(np.mean(pa - pb))
    variance = float(np.mean(pa * (1 - pa) + pb * (1 - pb)) + np.var(pa - pb))
    ncp = mean / math.sqrt(variance / n)
    crit = stats.t.ppf(1 - alpha / 2, n - 1)
    return float(stats.nct.sf(crit, n - 1, ncp) + stats.nct.cdf(-crit, n - 1, ncp))


def _fake_log(values: list[object]) -> object:
    """A log-shaped object (what inspect_ai.log returns) with one 'match' score per sample."""
    from types import SimpleNamespace

    from inspect_ai.scorer import Score

    samples = [
        SimpleNamespace(id=f"q{i}", epoch=1, scores={"match": Score(value=v)})  # type: ignore[arg-type]
        for i, v in enumerate(values)
    ]
    return SimpleNamespace(location="fake.eval", samples=samples)


def test_scores_convert_as_inspects_metrics_do_and_unknown_ones_are_refused() -> None:
    from traitgate.inspect_logs import sample_scores

    known = sample_scores(
        _fake_log(["C", "I", "P", "N", "Yes", "false", "0.25", 3, True]), "match", None
    )
    assert [v[0] for v in known.values()] == [1, 0, 0.5, 0, 1, 0, 0.25, 3, 1]
    for bad in ["maybe", "c", "nan"]:  # inspect would count each 0 (grades: upper case)
        with pytest.raises(ConfigError, match="no number or grade inspect knows"):
            sample_scores(_fake_log(["C", bad]), "match", None)
    with pytest.raises(ConfigError, match="pick one with --scorer match/KEY"):
        sample_scores(_fake_log([{"a": 1, "b": 0}]), "match", None)
    assert sample_scores(_fake_log([{"a": "C", "b": 0}]), "match", "a") == {"q0": [1.0]}
    with pytest.raises(ConfigError, match="a list score has no single number"):
        sample_scores(_fake_log(["C", [1, 0]]), "match", None)
    with pytest.raises(ConfigError, match="not a finite number"):
        sample_scores(_fake_log([float("nan")]), "match", None)
