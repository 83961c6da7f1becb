"""Bench: MA and EL_n of forgetflow against a faithful Jang et al.-style peer.

    python bench/memorization.py --json [--worlds DIR] [--model MODEL_DIR --data FILE]
                                 [--n N --length T --records K]

Default data: the `small` world's forget profiles with repetitions >= 4, the first 128 records,
each cut to its first 200 tokens; then the same over all repetition buckets ("all_buckets").

The peer computes MA with one greedy `generate` step per prefix length and EL_n with one
`generate` per prefix length t (T-t new tokens, EOS not special), each batched over all sequences;
forgetflow computes MA from one teacher-forced pass (`score_samples`, batches bounded by its
logits budget) and EL_n with `forgetflow.memorization.el.el_scores`. The peer's EL is checked
against `el_naive` on a subset.

decode_token_ratio = token positions the peer decodes / token positions forgetflow decodes
(generated positions of every row in every decode step, so padded and overrun rows count; prompt
positions are not decoded), and el_efficiency = el_speedup / decode_token_ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq
import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase as Tokenizer

from forgetflow.lm.dtypes import cpu_capability
from forgetflow.lm.tokens import encode
from forgetflow.memorization import el
from forgetflow.memorization.el import el_naive, el_scores, suffix_overlap
from forgetflow.memorization.metrics import score_samples
from forgetflow.memorization.windows import TokenizedSample
from forgetflow.models.io import load_model
from forgetflow.paths import resolve_paths
from forgetflow.records import Sample
from forgetflow.scenarios.world.build import build_world, world_config


def peer_ma(model: PreTrainedModel, ids: torch.Tensor) -> list[float]:
    """One greedy step per prefix length t = 1..T-1, all sequences at once."""
    hits = torch.zeros(ids.shape[0])
    for t in range(1, ids.shape[1]):
        prefix = ids[:, :t]
        out = model.generate(
            prefix, attention_mask=torch.ones_like(prefix), max_new_tokens=1, do_sample=False,
            eos_token_id=None, pad_token_id=0,
        )  # fmt: skip
        hits += out[:, -1].eq(ids[:, t]).float()
    return (hits / (ids.shape[1] - 1)).tolist()


def peer_el(model: PreTrainedModel, ids: torch.Tensor, n: int) -> tuple[list[float], int]:
    """One `generate` per prefix length t = 1..T-n (T-t new tokens), all sequences at once;
    the EL of each sequence and the token positions decoded."""
    rows, size = ids.shape
    totals = [0.0] * rows
    decoded = 0
    for t in range(1, size - n + 1):
        prefix = ids[:, :t]
        out = model.generate(
            prefix, attention_mask=torch.ones_like(prefix), do_sample=False,
            min_new_tokens=size - t, max_new_tokens=size - t, eos_token_id=None, pad_token_id=0,
        )  # fmt: skip
        decoded += rows * (out.shape[1] - t - 1)  # the first new token comes from the prompt
        for row, (generated, true) in enumerate(
            zip(out[:, t:].tolist(), ids.tolist(), strict=True)
        ):
            totals[row] += suffix_overlap(generated, true[t:], n)
    return [total / (size - n) for total in totals], decoded


def decoded_positions(model: PreTrainedModel, sequences: list[list[int]], n: int) -> int:
    """Token positions forgetflow's decode steps feed: each divergence job's steps (rows leave
    their batch when done, so no row is overrun)."""
    argmax, _ = el.teacher_forced(model, sequences, len(sequences) * len(sequences[0]))
    return sum(job.steps for job in el.divergence_jobs(sequences, argmax, n, 1))


def ours_ma(
    model: PreTrainedModel, tokenizer: Tokenizer, sequences: list[list[int]], batch_size: int
) -> list[float]:
    """forgetflow's scoring path (`score_samples`) on the pre-tokenized sequences."""
    items = [
        TokenizedSample(Sample(f"s{i}", "forget", ""), tuple(ids), 1, len(ids))
        for i, ids in enumerate(sequences)
    ]
    scores = score_samples(model, tokenizer, items, batch_size, metrics=("ma",))
    return [s.values["ma"] for s in scores]


def timed(fn, *args):  # noqa: ANN001, ANN202 - any call
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def compare(
    model: PreTrainedModel, tokenizer: Tokenizer, sequences: list[list[int]], n: int, checks: int
) -> dict[str, object]:
    ids = torch.tensor(sequences)
    with torch.no_grad():
        peer_ma_scores, peer_ma_s = timed(peer_ma, model, ids)
        (peer_el_scores, peer_decoded), peer_el_s = timed(peer_el, model, ids, n)
    ma_scores, ma_s = timed(ours_ma, model, tokenizer, sequences, 32)
    el_values, el_s = timed(el_scores, model, sequences, n)
    with torch.no_grad():
        decoded = decoded_positions(model, sequences, n)
    naive = [el_naive(model, seq, n) for seq in sequences[:checks]]
    diffs = [abs(a - b) for a, b in zip(el_values, peer_el_scores, strict=True)]
    ratio = peer_decoded / max(decoded, 1)
    return {
        "records": len(sequences),
        "ma_speedup": round(peer_ma_s / ma_s, 1),
        "el_speedup": round(peer_el_s / el_s, 2),
        "decode_token_ratio": round(ratio, 2),
        "el_efficiency": round(peer_el_s / el_s / ratio, 3),
        "ma_max_abs_diff": max(abs(a - b) for a, b in zip(ma_scores, peer_ma_scores, strict=True)),
        "el_max_abs_diff": max(diffs),
        "el_exact_share": sum(d <= 1e-6 for d in diffs) / len(diffs),
        "peer_vs_naive_max_abs_diff": max(
            (abs(a - b) for a, b in zip(naive, peer_el_scores, strict=False)), default=None
        ),
        "peer_checked_against_naive": len(naive),
        "seconds": {"peer_ma": round(peer_ma_s, 2), "ma": round(ma_s, 3),
                    "peer_el": round(peer_el_s, 2), "el": round(el_s, 2)},
        "decoded_positions": {"peer": peer_decoded, "forgetflow": decoded},
        "mean_el": round(sum(el_values) / len(el_values), 4),
        "mean_ma": round(sum(ma_scores) / len(ma_scores), 4),
    }  # fmt: skip


def interleaved(rows: Sequence[dict], count: int) -> list[dict]:
    """Up to `count` rows taken in turn from each repetition bucket (table order within one)."""
    buckets: dict[int, list[dict]] = {}
    for row in rows:
        buckets.setdefault(row["repetitions"], []).append(row)
    queues = [buckets[key] for key in sorted(buckets)]
    picked: list[dict] = []
    for rank in range(max(len(q) for q in queues)):
        picked += [q[rank] for q in queues if rank < len(q)]
    return picked[:count]


def cut(tokenizer: Tokenizer, rows: Sequence[dict], length: int) -> list[list[int]]:
    """Each text's first `length` tokens; texts shorter than that are left out."""
    return [
        ids[:length] for ids in encode(tokenizer, [r["text"] for r in rows]) if len(ids) >= length
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=Path, help="folder of worlds (default: settings' worlds)")
    parser.add_argument("--model", type=Path, help="HF model dir (default: the small world's)")
    parser.add_argument("--data", type=Path, help="parquet with text, repetitions columns")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--records", type=int, default=128)
    parser.add_argument("--min-repetitions", type=int, default=4)
    parser.add_argument("--checks", type=int, default=2, help="peer outputs checked by el_naive")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--no-all-buckets", action="store_true")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.model is None or args.data is None:
        world = build_world(world_config("small"), args.worlds or resolve_paths().worlds)
    model, tokenizer = load_model(args.model or world.model_dir)
    rows = pq.read_table(args.data or world.splits["forget"]).to_pylist()
    chosen = [r for r in rows if r["repetitions"] >= args.min_repetitions][: args.records]
    result: dict[str, object] = {
        "bench": "memorization", "n": args.n, "length": args.length,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "cpu_capability": cpu_capability(),
        "parameters": sum(p.numel() for p in model.parameters()),
    }  # fmt: skip
    result |= compare(model, tokenizer, cut(tokenizer, chosen, args.length), args.n, args.checks)
    if not args.no_all_buckets:
        spread = cut(tokenizer, interleaved(rows, args.records), args.length)
        result["all_buckets"] = compare(model, tokenizer, spread, args.n, args.checks)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
