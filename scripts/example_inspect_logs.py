"""Write two inspect-ai logs to try ``traitgate compare`` on (offline, in seconds).

    python scripts/example_inspect_logs.py DIR

runs one small task (120 arithmetic questions, scored by inspect's ``match``) with two
scripted mockllm models: ``reference`` answers the questions easier than 0.7 on a fixed
difficulty scale; ``candidate`` answers the same ones except those between 0.58 and 0.7 (a
regression of about 12 points on the same questions). The logs land in DIR/reference/ and
DIR/candidate/ (inspect names the files).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

QUESTIONS = 120
DIFFICULTY = np.random.default_rng(7).uniform(size=QUESTIONS)


def _reply(right: float) -> object:
    from inspect_ai.model import ChatCompletionChoice, ChatMessageAssistant, ModelOutput, ModelUsage

    def reply(messages, tools, tool_choice, config):  # type: ignore[no-untyped-def]
        i = int(messages[-1].text.split()[2])
        text = str(2 * i) if DIFFICULTY[i] < right else "I am not sure."
        choice = ChatCompletionChoice(message=ChatMessageAssistant(content=text))
        usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)  # (no tiktoken)
        return ModelOutput(model="mockllm", choices=[choice], usage=usage)

    return reply


def write_logs(directory: Path) -> dict[str, Path]:
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.model import get_model
    from inspect_ai.scorer import match

    samples = [
        Sample(input=f"What is {i} + {i}?", target=str(2 * i), id=f"q{i}") for i in range(QUESTIONS)
    ]
    task = Task(dataset=MemoryDataset(samples, name="doubling"), scorer=match(), name="doubling")
    written = {}
    for name, right in (("reference", 0.7), ("candidate", 0.58)):
        (log,) = inspect_eval(
            task,
            model=get_model("mockllm/model", custom_outputs=_reply(right)),
            log_dir=str(directory / name),
            display="none",
        )
        written[name] = Path(str(log.location))
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for name, path in write_logs(Path(sys.argv[1])).items():
        print(f"{name}: {path}")
