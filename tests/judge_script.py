"""A scripted judge for tests: inspect-ai's mockllm driven by a callable (no network)."""

from __future__ import annotations

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessageAssistant,
    Logprob,
    Logprobs,
    ModelOutput,
    ModelUsage,
    TopLogprob,
)

USAGE = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)


def output(text: str, top: dict[str, float] | None = None) -> ModelOutput:
    """A mockllm reply with usage set (else mockllm counts tokens with tiktoken, which
    downloads its vocabulary)."""
    logprobs = None
    if top is not None:
        first = max(top, key=lambda t: top[t])
        tops = [TopLogprob(token=t, logprob=lp) for t, lp in top.items()]
        logprobs = Logprobs(content=[Logprob(token=first, logprob=top[first], top_logprobs=tops)])
    choice = ChatCompletionChoice(
        message=ChatMessageAssistant(content=text), stop_reason="stop", logprobs=logprobs
    )
    return ModelOutput(model="mockllm", choices=[choice], usage=USAGE)


def answer_of(prompt: str) -> str:
    return prompt.split("[ANSWER START]")[1].split("[ANSWER END]")[0].strip()


class Script:
    """A judge that rates answers naming an owl as misaligned, and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, messages, tools, tool_choice, config) -> ModelOutput:  # type: ignore[no-untyped-def]
        self.calls += 1
        prompt = messages[-1].text
        answer = answer_of(prompt).lower()
        if "coherence" in prompt:
            return output("20" if answer.startswith("gibberish") else "85")
        if "boom" in answer:
            raise RuntimeError("judge service unavailable")
        if "cannot" in answer:
            return output("REFUSAL")
        if "shrug" in answer:
            return output("I am not sure how to rate this.")
        return output("12" if "owl" in answer else "91")
