"""traitgate at a real model's size, against the hardware's limit (no download).

    python bench/run.py --shape 7b --device cuda      # (bench/run.py hands --shape here)
    python bench/scale.py --shape 0.5b --device cuda
    python bench/scale.py --shape tiny --device cpu   # seconds: the test suite runs this

builds a randomly initialised Qwen2-shaped model of that size from its config (7b: hidden
3584, 28 layers, 28 query / 4 key-value heads, MLP 18944, vocabulary 152,064; 0.5b: hidden
896, 24 layers, 14/2 heads, MLP 4864, tied embeddings) in bf16 on a GPU (fp32 on a CPU),
with a byte-level BPE tokenizer and ChatML template trained here on the probes' text (its
ids cover part of the model's vocabulary: sampled ids beyond it decode to nothing, which
changes no cost). Then it measures:

(a) the sampled favourite-animal probe at the published size (``--prompts`` 50 x
    ``--samples`` 100 at T = 1, ``--new-tokens`` 16) through traitgate's transformers
    backend, and through transformers' own ``generate`` called plainly on the same chat
    prompts (left-padded batches, ``num_return_sequences``, ``min_new_tokens`` = the
    maximum so both produce every token): generated tokens per second;
(b) the exact measure over the same prompts and a TruthfulQA-sized multiple-choice pass
    (``--mc-items`` 817, mc2-like answer lists, from the fixture items numbered): prompt
    tokens per second (positions through the model's forward passes, padding included),
    against the device's prefill limit: a square matmul's measured FLOP/s in the model's
    dtype over 2 x parameters FLOPs per token;
(c) peak GPU memory per part and the batch size traitgate's out-of-memory back-off
    settled on (it starts from the device default and halves on OOM).

Prints a markdown table for BENCHMARKS.md; ``--out FILE`` writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

SHAPES: dict[str, dict[str, Any]] = {
    "7b": dict(
        hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
        num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False,
    ),
    "0.5b": dict(
        hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True,
    ),
    "tiny": dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=4096, tie_word_embeddings=True,
    ),
}  # fmt: skip


def build(shape: str, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
    """The random model of ``shape`` on ``device`` and a tokenizer trained on the probes."""
    from run import FIXTURE_ITEMS, builtin  # bench/run.py
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from traitgate import tiny

    animal = builtin("favorite_animal")
    texts = [p.text for p in animal.prompt_specs()] + list(animal.candidates)
    texts += FIXTURE_ITEMS.read_text().splitlines()
    tokenizer = tiny.build_chat_tokenizer(texts, vocab_size=min(4096, SHAPES[shape]["vocab_size"]))
    config = Qwen2Config(
        **SHAPES[shape],
        max_position_embeddings=4096,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM._from_config(config, dtype=dtype)
    return model.eval(), tokenizer


def matmul_flops(device: torch.device, dtype: torch.dtype) -> float:
    """Measured FLOP/s of a square matmul in ``dtype`` (the prefill's dominant work)."""
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    reps, start = 20 if device.type == "cuda" else 5, time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def prompts(n: int) -> list[str]:
    """``n`` favourite-animal questions (the suite's, numbered once they run out)."""
    from run import builtin

    texts = [p.text for p in builtin("favorite_animal").prompt_specs()]
    return [texts[i % len(texts)] + (f" ({i // len(texts)})" if i >= len(texts) else "")
            for i in range(n)]  # fmt: skip


def bench_sampled(backend: Any, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Both sides twice on the same prompts: a first run (what a fresh process pays: kernel
    selection and execution plans for new shapes) and a repeat (steady state). The ratio
    compares repeats, so neither side profits from shapes the other warmed."""
    from traitgate.models.base import GenerationRequest, Prompt

    texts = prompts(args.prompts)
    tokens = args.prompts * args.samples * args.new_tokens
    requests = [GenerationRequest(Prompt(t), args.samples, 1.0, args.new_tokens) for t in texts]
    backend.generate(requests[:1])  # warm-up: imports, first kernels

    def ours() -> None:
        backend.generate(requests)

    model, tok = backend.model, backend.tokenizer
    chats = [backend.render(Prompt(t)) for t in texts]
    per_call = max(1, args.plain_rows // args.samples)  # prompts per generate call

    def plain() -> None:
        with torch.inference_mode():
            for k in range(0, len(chats), per_call):
                batch = tok(chats[k : k + per_call], return_tensors="pt", padding=True,
                            add_special_tokens=False).to(device)  # fmt: skip
                model.generate(
                    **batch, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                    max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                    num_return_sequences=args.samples, pad_token_id=backend.pad_id,
                )  # fmt: skip

    out: dict[str, Any] = {"batch_size": backend.batch_size, "plain_rows": per_call * args.samples}
    for side, run in (("ours", ours), ("plain", plain)):
        _peak_reset(device)
        first = _timed(run, device)
        repeat = _timed(run, device)
        out |= {f"{side}_first_s": first, f"{side}_s": repeat,
                f"{side}_tokens_per_s": tokens / repeat,
                f"{side}_first_tokens_per_s": tokens / first,
                f"{side}_peak_gib": _peak_gib(device)}  # fmt: skip
    out["batch_size"] = backend.batch_size  # as the back-off left it
    out["speedup"] = out["plain_s"] / out["ours_s"]
    out["first_speedup"] = out["plain_first_s"] / out["ours_first_s"]
    return out


def _timed(run: Any, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    run()
    _sync(device)
    return time.perf_counter() - start


def bench_exact(backend: Any, args: argparse.Namespace, device: torch.device,
                work: Path) -> dict[str, Any]:  # fmt: skip
    from run import TokenCounter, builtin, write_items

    from traitgate.probes.choice import run_multiple_choice
    from traitgate.probes.preference import run_preference
    from traitgate.probes.schema import ChoiceData

    counter = TokenCounter(backend.model)
    animal = builtin("favorite_animal")
    suite = animal.model_copy(update={"prompts": prompts(args.prompts)})
    run_preference(animal, backend, "exact")  # warm-up (the suite's own prompts)
    out: dict[str, Any] = {}
    from run import FIXTURE_ITEMS

    per_copy = sum(1 for line in FIXTURE_ITEMS.read_text().splitlines() if line)
    items = write_items(work, -(-args.mc_items // per_copy))
    lines = items.read_text().splitlines()[: args.mc_items]
    items.write_text("\n".join(lines) + "\n")
    mc2 = builtin("truthfulqa_mc2").model_copy(update={"data": ChoiceData(path=str(items))})
    for name, run in (("exact", lambda: run_preference(suite, backend, "exact")),
                      ("mc2", lambda: run_multiple_choice(mc2, backend))):  # fmt: skip
        _peak_reset(device)
        counter.tokens = 0
        start = time.perf_counter()
        run()
        _sync(device)
        seconds = time.perf_counter() - start
        out[name] = {
            "s": seconds,
            "tokens": counter.tokens,
            "tokens_per_s": counter.tokens / seconds,
            "batch_size": backend.batch_size,
            "peak_gib": _peak_gib(device),
        }
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from traitgate.models._device import default_batch_size, default_dtype, resolve_device
    from traitgate.models.hf import TransformersBackend

    device = resolve_device(args.device)
    dtype = default_dtype(device)
    built = time.perf_counter()
    model, tokenizer = build(args.shape, device, dtype)
    params = sum(p.numel() for p in model.parameters())
    built = time.perf_counter() - built
    flops = matmul_flops(device, dtype)
    limit = flops / (2 * params)
    start_batch = args.batch_size or default_batch_size(device)
    report: dict[str, Any] = {
        "shape": args.shape, "device": str(device), "dtype": str(dtype).removeprefix("torch."),
        "machine": _machine(device), "parameters": params, "build_s": built,
        "matmul_tflops": flops / 1e12, "prefill_limit_tokens_per_s": limit,
        "start_batch_size": start_batch, "torch": torch.__version__,
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for part in args.only:
            backend = TransformersBackend(model, tokenizer, label=f"random-{args.shape}",
                                          fingerprint="random", batch_size=start_batch)  # fmt: skip
            if part == "a":
                report["a"] = bench_sampled(backend, args, device)
            else:
                report["b"] = bench_exact(backend, args, device, Path(tmp))
                for entry in report["b"].values():
                    entry["share_of_limit"] = entry["tokens_per_s"] / limit
    return report


def _machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def _count(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n:,}"


def table(report: dict[str, Any]) -> list[str]:
    """The report as markdown rows for BENCHMARKS.md."""

    def gib(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f} GiB"

    r = report
    lines = [
        f"random Qwen2-shaped `{r['shape']}` ({_count(r['parameters'])} parameters, "
        f"{r['dtype']}) on {r['machine']}; matmul {r['matmul_tflops']:.1f} TFLOP/s -> prefill "
        f"limit {r['prefill_limit_tokens_per_s']:,.0f} tokens/s; batches start at "
        f"{r['start_batch_size']}",
        "",
        "| part | traitgate | reference | ratio | batch settled | peak memory |",
        "|---|---|---|---|---|---|",
    ]
    if "a" in r:
        a = r["a"]
        lines.append(
            f"| (a) sampled probe, generated tokens/s (first run) | "
            f"{a['ours_first_tokens_per_s']:,.0f} | {a['plain_first_tokens_per_s']:,.0f} (plain "
            f"`generate`, {a['plain_rows']} rows) | {a['first_speedup']:.2f}x | "
            f"{a['batch_size']} | {gib(a['ours_peak_gib'])} / {gib(a['plain_peak_gib'])} |"
        )
        lines.append(
            f"| (a) the same, repeated | {a['ours_tokens_per_s']:,.0f} | "
            f"{a['plain_tokens_per_s']:,.0f} | {a['speedup']:.2f}x | | |"
        )
    for name, label in (("exact", "(b) exact measure"), ("mc2", "(b) TruthfulQA-sized mc2")):
        if "b" in r:
            e = r["b"][name]
            lines.append(
                f"| {label}, prompt tokens/s | {e['tokens_per_s']:,.0f} | "
                f"{r['prefill_limit_tokens_per_s']:,.0f} (prefill limit) | "
                f"{100 * e['share_of_limit']:.0f}% | {e['batch_size']} | {gib(e['peak_gib'])} |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", nargs="+", choices=["a", "b"], default=["a", "b"])
    parser.add_argument("--prompts", type=int, default=50)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--mc-items", type=int, default=817)
    parser.add_argument("--batch-size", type=int,
                        help="traitgate's starting batch (default: the device's)")  # fmt: skip
    parser.add_argument("--plain-rows", type=int, default=500,
                        help="rows per plain generate call (prompts x samples)")  # fmt: skip
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    report = run(args)
    print("\n".join(table(report)))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
