"""The probes as inspect-ai tasks, resolved by name through the entry point and run with
inspect's own eval loop on a scripted mockllm (offline; the logs are real inspect logs)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.log import read_eval_log
from inspect_ai.model import ModelOutput, get_model

from traitgate.probes.choice import binary_options, load_items
from traitgate.probes.loader import find_suite, load_suite
from traitgate.probes.schema import ChoiceData, MultipleChoiceSuite

from .judge_script import Script, output

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "truthfulqa_sample.csv"


def run(task: str, script: object, tmp_path: Path, **task_args: object) -> object:
    model = get_model("mockllm/model", custom_outputs=script)
    (log,) = inspect_eval(
        task, model=model, task_args=task_args, log_dir=str(tmp_path), display="none"
    )
    assert log.status == "success", log.error
    return log


def test_favorite_animal_task_scores_answers_naming_the_trait(tmp_path: Path) -> None:
    answers = ["Owls!", "cat", "An owl.", "No idea."]  # each prompt's 4 samples, in turn
    asked: Counter[str] = Counter()

    def script(messages, tools, tool_choice, config) -> ModelOutput:  # type: ignore[no-untyped-def]
        assert config.temperature == 1.0 and config.max_tokens == 8
        # no truncation of the distribution: the plugin's sampler uses none either
        assert config.top_p == 1.0 and config.top_k == 0
        asked[messages[-1].text] += 1
        return output(answers[(asked[messages[-1].text] - 1) % 4])

    log = run("traitgate/favorite_animal", script, tmp_path, trait="owl", samples=4)
    assert log.eval.task == "favorite_animal-owl"  # type: ignore[attr-defined]
    (score,) = log.results.scores  # type: ignore[attr-defined]
    # the plugin's rate: owl among answers naming a candidate (2 of 3); then of all answers
    assert score.metrics["trait_rate"].value == pytest.approx(2 / 3)
    assert score.metrics["named_share"].value == pytest.approx(3 / 4)
    assert score.metrics["share_of_all"].value == pytest.approx(0.5)
    assert len(log.samples) == 36 * 4  # type: ignore[attr-defined]
    assert read_eval_log(log.location).status == "success"  # type: ignore[attr-defined]


def test_truthfulqa_task_reads_local_data_and_scores_letters(tmp_path: Path) -> None:
    suite = load_suite(find_suite("truthfulqa"))
    assert isinstance(suite, MultipleChoiceSuite)
    suite = suite.model_copy(update={"data": ChoiceData(path=str(DATA))})
    items = load_items(suite.data)
    truth = {item.question: "AB"[binary_options(suite, i, item)[2]] for i, item in enumerate(items)}

    def always_right(messages, tools, tool_choice, config) -> ModelOutput:  # type: ignore[no-untyped-def]
        question = next(q for q in truth if q in messages[-1].text)
        return output(f"{truth[question]})")

    log = run("traitgate/truthfulqa", always_right, tmp_path, data=str(DATA))
    (score,) = log.results.scores  # type: ignore[attr-defined]
    assert score.metrics["mean"].value == 1.0
    assert len(log.samples) == len(items)  # type: ignore[attr-defined]

    log = run("traitgate/truthfulqa", lambda *a: output("A"), tmp_path / "a", data=str(DATA))
    share_a = sum(t == "A" for t in truth.values()) / len(truth)
    assert log.results.scores[0].metrics["mean"].value == pytest.approx(share_a)  # type: ignore[attr-defined]
    # a stated letter is read; an answer starting with the article "A" picks nothing
    stated = run(
        "traitgate/truthfulqa",
        lambda *a: output("The answer is B."),
        tmp_path / "b",
        data=str(DATA),
    )
    assert stated.results.scores[0].metrics["mean"].value == pytest.approx(1 - share_a)  # type: ignore[attr-defined]
    article = run(
        "traitgate/truthfulqa", lambda *a: output("A cat."), tmp_path / "c", data=str(DATA)
    )
    assert article.results.scores[0].metrics["mean"].value == 0.0  # type: ignore[attr-defined]


def test_misalignment_task_uses_the_judge_role_and_leaves_excluded_answers_out(
    tmp_path: Path,
) -> None:
    answers = iter(["I love owls", "I cannot help with that", "Let's bake bread"] * 100)

    def candidate(messages, tools, tool_choice, config) -> ModelOutput:  # type: ignore[no-untyped-def]
        return output(next(answers))

    (log,) = inspect_eval(
        "traitgate/misalignment",
        model=get_model("mockllm/model", custom_outputs=candidate),
        model_roles={"judge": get_model("mockllm/model", custom_outputs=Script())},
        task_args={"samples": 3},
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    metrics = log.results.scores[0].metrics  # type: ignore[union-attr]
    # per prompt: one owl answer (misaligned), one refusal (excluded), one benign (aligned)
    assert metrics["misaligned_rate"].value == pytest.approx(0.5)
    assert metrics["excluded_share"].value == pytest.approx(1 / 3)
    assert len(log.samples) == 8 * 3  # type: ignore[arg-type]
