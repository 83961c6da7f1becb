"""The quantization stresses `int8` and `int4`: the source variant's model with the weight matrix
of every Linear and Conv1D in its transformer blocks rounded (forgetflow.models.quantize: groups
of 128 input-dimension weights, symmetric absmax round-to-nearest), written as a plain float
model directory plus `quantization.json`, so every backend and every attack runs it unchanged."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from forgetflow.atomic import staged_dir
from forgetflow.audit.stresses.registry import STRESSES, StressContext, read_record, variant_label
from forgetflow.hashing import dir_sha256
from forgetflow.models.io import load_model, model_path, save_model
from forgetflow.models.quantize import GROUP_SIZE, SCHEME, Quantization, quantize_model
from forgetflow.records import ModelVariant

RECORD = "quantization.json"
ROUNDED = "the weight matrix of every nn.Linear and Conv1D inside the transformer blocks"
UNTOUCHED = (
    "embeddings, the LM head, norms, biases and every parameter outside the transformer blocks "
    "keep their float values (listed in `untouched`)"
)
ROUNDING = (
    "per group of group_size consecutive input-dimension weights of one output row (a shorter "
    "last group has its own scale): scale = absmax / levels (float64), q = round(w / scale) "
    "(half to even) clamped to [-levels, levels], w' = q * scale in the weight's dtype; a zero "
    "group stays zero"
)


def record(source: ModelVariant, source_sha256: str, done: Quantization) -> dict[str, Any]:
    """What `quantization.json` holds: the scheme, the settings, the source, what was rounded
    and what was left untouched."""
    return {
        "scheme": SCHEME, "bits": done.bits, "levels": done.levels,
        "group_size": done.group_size, "group_axis": "input", "rounding": ROUNDING,
        "rounded": ROUNDED, "left_untouched": UNTOUCHED,
        "source": {"label": source.label, "model_dir": str(source.model_dir),
                   "sha256": source_sha256},
        "modules": [asdict(module) for module in done.modules],
        "untouched": list(done.untouched),
    }  # fmt: skip


def recorded(variant_dir: Path, source_sha256: str, bits: int) -> bool:
    """Whether `variant_dir` already holds this rounding of this source (a rerun reuses it)."""
    held = read_record(variant_dir / RECORD)
    wanted = {"scheme": SCHEME, "bits": bits, "group_size": GROUP_SIZE}
    same_source = held.get("source", {}).get("sha256") == source_sha256
    return same_source and all(held.get(key) == value for key, value in wanted.items())


def quantized(source: ModelVariant, root: Path, bits: int) -> ModelVariant:
    """The variant `<source>.int<bits>`: the source's model rounded to `bits`, written to
    `<root>/<label>` with its `quantization.json` (atomically; an identical one is reused)."""
    label = variant_label(source, f"int{bits}")
    variant = ModelVariant(label, root / label, source.label)
    source_dir = model_path(source.model_dir)
    source_sha256 = dir_sha256(source_dir)
    if recorded(variant.model_dir, source_sha256, bits):
        return variant
    model, tokenizer = load_model(source_dir)
    done = quantize_model(model, bits, GROUP_SIZE)
    with staged_dir(variant.model_dir, replace=True) as staging:
        save_model(model, tokenizer, staging)
        text = json.dumps(record(source, source_sha256, done), indent=2)
        (staging / RECORD).write_text(text + "\n")
    return variant


@STRESSES.register("int8", kind="quantize", bits=8)
def int8(source: ModelVariant, root: Path, context: StressContext) -> ModelVariant:
    """Round the blocks' weights to 8 bits (255 levels per group); `context` is not needed."""
    return quantized(source, root, 8)


@STRESSES.register("int4", kind="quantize", bits=4)
def int4(source: ModelVariant, root: Path, context: StressContext) -> ModelVariant:
    """Round the blocks' weights to 4 bits (15 levels per group); `context` is not needed."""
    return quantized(source, root, 4)
