"""How a local model sees prompts and answers: the chat template or the plain form, and the
token ids of each prompt and of each continuation after it.

Shared by the transformers and vLLM backends, so both run exactly the same sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from traitgate.errors import ModelError
from traitgate.models.base import Prompt, ScoreRequest


def plain_prompt(prompt: Prompt) -> str:
    """How a prompt is written for a model without a chat template."""
    head = f"{prompt.system}\n\n" if prompt.system else ""
    return f"{head}{prompt.user}\n"


class PromptCodec:
    """A tokenizer's view of prompts (``label`` names the model in errors)."""

    def __init__(self, tokenizer: Any, label: str) -> None:
        self.tokenizer = tokenizer
        self.label = label
        self.has_chat_template = bool(getattr(tokenizer, "chat_template", None))
        self.unk_id = tokenizer.unk_token_id  # (read once: a slow attribute in transformers 5)

    def render(self, prompt: Prompt) -> str:
        """The prompt as text, with the chat template when the tokenizer has one.

        Without a template the prompt is ``system\\n\\nuser\\n`` (system omitted if None).
        """
        if self.has_chat_template:
            text = self.tokenizer.apply_chat_template(
                prompt.messages(), tokenize=False, add_generation_prompt=True
            )
            return str(text)
        return plain_prompt(prompt)

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, in one tokenizer call (a chat template writes its own
        special tokens; a plain prompt gets the tokenizer's)."""
        if not texts:
            return []
        encoded = self.tokenizer(
            list(texts),
            add_special_tokens=not self.has_chat_template,
            return_attention_mask=False,  # (a third of the call's time, and unused)
            return_token_type_ids=False,
        )
        return list(encoded["input_ids"])

    def split_continuation(self, prompt_ids: list[int], full: list[int], cont: str) -> list[int]:
        """The continuation's tokens, given the prompt's and those of prompt + continuation."""
        if full[: len(prompt_ids)] == prompt_ids and len(full) > len(prompt_ids):
            ids = full[len(prompt_ids) :]
        else:  # the tokenizer merged across the boundary: tokenise the continuation alone
            ids = list(self.tokenizer(cont, add_special_tokens=False)["input_ids"])
        if not ids:
            raise ModelError(f"model {self.label}: {cont!r} tokenises to nothing")
        if self.unk_id is not None and self.unk_id in ids:
            raise ModelError(
                f"model {self.label}: {cont!r} contains words its tokenizer does not know"
            )
        return ids

    def score_inputs(
        self, requests: Sequence[ScoreRequest]
    ) -> tuple[list[list[int]], list[list[list[int]]]]:
        """Each request's prompt ids, and the ids of each of its continuations."""
        texts = [self.render(r.prompt) for r in requests]
        prompt_ids = self.encode_many(texts)
        pairs = zip(texts, requests, strict=True)
        fulls = iter(self.encode_many([t + c for t, r in pairs for c in r.continuations]))
        conts = [
            [self.split_continuation(ids, next(fulls), c) for c in req.continuations]
            for ids, req in zip(prompt_ids, requests, strict=True)
        ]
        return prompt_ids, conts
