"""A real pretrained model fine-tuned on customer records: the privacy case on a real LM.

SmolLM2-135M-Instruct (pulled from PyPI) is fine-tuned on short Faker records, a name line plus
three PII fields (~40 tokens), each forget and retain record seen r times (r cycling through
`buckets`, 1, 4 and 16 by default) in one pass over an evenly spread exposure schedule (the
world's, `forgetflow.scenarios.exposures`); holdout records are never seen. The retain model is the
same fine-tuning without the forget split. Both are built once into
`<home>/finetuned/<name>-<content key>/` (staged, then renamed: a crash leaves nothing half-built)
and reached by stable names that `load_model` resolves: `<name>` (the target) and
`<name>-retain`. The manifest records the fine-tuning times and how much of each bucket the two
models extract verbatim from the name line (the scenario's check).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.atomic import write_text
from forgetflow.audit.extraction import extraction_figures, extraction_table
from forgetflow.generation.hf import HFBackend
from forgetflow.hashing import content_key, content_sha256, file_sha256
from forgetflow.lm.tokens import encode
from forgetflow.models.io import load_model, model_path, save_model
from forgetflow.models.names import FINETUNED_SUFFIX, finetuned_pointer
from forgetflow.paths import resolve_paths
from forgetflow.records import SPLITS, Sample
from forgetflow.scenarios.build import build_once, training_device
from forgetflow.scenarios.exposures import (
    exposure_schedule,
    length_grouped_batches,
    train_on_schedule,
)
from forgetflow.scenarios.world.corpus import Item
from forgetflow.scenarios.world.profiles import make_profiles
from forgetflow.scenarios.world.tables import items_table
from forgetflow.unlearning.config import LoraSettings, apply_lora

FORMAT = 3  # bump when the build changes what a given config produces
Progress = Callable[[str, int, int, float], None]  # (model, step, steps, loss)


class RecordsConfig(BaseModel):
    """Settings of the fine-tuned records scenario; every field is part of its content key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        "smollm2-records", pattern=r"^[a-z0-9][a-z0-9.-]*$",
        description="the target's stable name; the retain model's adds -retain",
    )  # fmt: skip
    base: str = Field("smollm2-135m-instruct", description="a pulled model's name or a directory")
    seed: int = Field(0, description="seed of the records' draw and of the fine-tuning")
    buckets: list[int] = Field(
        [1, 4, 16], min_length=1, description="the exposure counts r: each forget and retain "
        "record is seen r times in the fine-tuning, r cycling through this list",
    )  # fmt: skip
    forget_per_bucket: int = Field(8, ge=1, description="forget records per exposure count")
    retain_per_bucket: int = Field(8, ge=1, description="retain records per exposure count")
    holdout: int = Field(24, ge=1, description="records never seen: the non-members")
    fields: list[str] = Field(
        ["Name", "Email", "Phone", "SSN"], min_length=2, description="the Faker fields of a "
        "record, one line each; the first (Name) line is the prompt",
    )  # fmt: skip
    lr: float = Field(3e-4, gt=0.0, description="peak AdamW learning rate of the fine-tuning")
    batch_size: int = Field(
        2, ge=1, description="records per fine-tuning step (SmolLM2: batches of 8 extracted 12% "
        "of the r=16 records, batches of 2 all of them; lr 1e-3 at 8 diverged)",
    )  # fmt: skip
    lora: LoraSettings | None = Field(
        None, description="fine-tune a LoRA adapter and merge it; null: every weight"
    )

    @field_validator("buckets")
    @classmethod
    def positive(cls, buckets: list[int]) -> list[int]:
        if any(r < 1 for r in buckets):
            raise ValueError(f"every bucket is a number of exposures >= 1, not {buckets}")
        return buckets

    def content_key(self, base_digest: str) -> str:
        return content_key({"format": FORMAT, "base": base_digest, **self.model_dump()})


@dataclass(frozen=True)
class FinetunedRecords:
    root: Path
    model_dir: Path
    retain_model_dir: Path
    splits: dict[str, Path]
    manifest: dict


def base_digest(base: Path) -> str:
    """What identifies the base model: its weights' sha256."""
    weights = sorted(base.glob("*.safetensors"))
    if not weights:
        raise FileNotFoundError(f"{base} has no safetensors weights")
    return content_sha256([file_sha256(w) for w in weights])


def record_items(config: RecordsConfig) -> list[Item]:
    """Forget and retain records cycling through the buckets, then the holdout (r = 0)."""
    buckets = len(config.buckets)
    counts = {"forget": config.forget_per_bucket * buckets,
              "retain": config.retain_per_bucket * buckets, "holdout": config.holdout}  # fmt: skip
    texts = iter(make_profiles(sum(counts.values()), config.seed, fields=config.fields))
    items = []
    for split, count in counts.items():
        for i in range(count):
            r = 0 if split == "holdout" else config.buckets[i % buckets]
            items.append(Item(f"record-{split}-{i:04d}", "record", split, r, next(texts)))
    return items


def fine_tune(
    config: RecordsConfig,
    items: list[Item],
    label: str,
    progress: Progress | None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, int]:
    """The base model after one pass over the exposures of `items` (EOS after each record)."""
    torch.manual_seed(config.seed)
    model, tokenizer = load_model(config.base)
    model = model.to(training_device())  # CUDA where present
    if config.lora is not None:
        model = apply_lora(model, config.lora)
    encoded = encode(tokenizer, [i.text for i in items])
    sequences = [ids + [tokenizer.eos_token_id] for ids in encoded]
    schedule = exposure_schedule([i.repetitions for i in items], config.seed)
    batches = length_grouped_batches(schedule, [len(s) for s in sequences], config.batch_size)
    report = None if progress is None else (lambda s, n, loss: progress(label, s, n, loss))
    steps = train_on_schedule(model, sequences, batches, tokenizer.pad_token_id, config.lr, report,
                              f"records: {label}")  # fmt: skip
    if config.lora is not None:
        model = model.merge_and_unload()
    return model.cpu(), tokenizer, steps


def extraction_rates(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, items: list[Item], label: str
) -> dict[str, float]:
    """Per split and bucket: the share of records whose fields the model decodes verbatim from
    the name line (`_extraction`) and the mean share of their tokens it gets right
    (`_token_match`)."""
    samples = [Sample(i.sample_id, i.split, i.text, i.repetitions) for i in items]
    table = extraction_table(HFBackend(model, tokenizer, batch_size=24), tokenizer, samples, label)
    return {f"{f.variant}_{f.group}_{f.metric}": f.value for f in extraction_figures(table)}


def write_records(
    config: RecordsConfig, staging: Path, base: Path, digest: str, progress: Progress | None
) -> None:
    items = record_items(config)
    trained = [i for i in items if i.repetitions > 0]
    seconds, steps, rates = {}, {}, {}
    for label, folder, subset in (
        ("target", "model", trained),
        ("retain", "retain_model", [i for i in trained if i.split != "forget"]),
    ):
        start = time.perf_counter()
        model, tokenizer, steps[label] = fine_tune(config, subset, label, progress)
        seconds[label] = round(time.perf_counter() - start, 1)
        rates.update(extraction_rates(model, tokenizer, items, label))
        save_model(model, tokenizer, staging / folder)
        del model
    pq.write_table(items_table(items), staging / "items.parquet")
    for split in SPLITS:
        rows = items_table([i for i in items if i.split == split])
        pq.write_table(rows, staging / f"{split}.parquet")
    manifest = {
        "format": FORMAT,
        "config": config.model_dump(),
        "base": str(base),
        "base_sha256": digest,
        "train_steps": steps,
        "train_seconds": seconds,
        "extraction": rates,
        "torch_threads": torch.get_num_threads(),
        "sha256": {str(p.relative_to(staging)): file_sha256(p)
                   for p in sorted(staging.rglob("*")) if p.is_file()},
    }  # fmt: skip
    (staging / "records.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def load_records(folder: Path) -> FinetunedRecords:
    manifest = json.loads((folder / "records.json").read_text())
    splits = {split: folder / f"{split}.parquet" for split in SPLITS}
    return FinetunedRecords(folder, folder / "model", folder / "retain_model", splits, manifest)


def build_records(
    config: RecordsConfig, home: str | Path | None = None, progress: Progress | None = None
) -> FinetunedRecords:
    """Fine-tune (or reuse) the scenario's two models, and point its stable names at them."""
    base = model_path(config.base, home)
    root = resolve_paths(home).home / "finetuned"
    digest = base_digest(base)
    folder = root / f"{config.name}-{config.content_key(digest)}"
    if not (folder / "records.json").is_file():
        build_once(folder, lambda staging: write_records(config, staging, base, digest, progress))
    built = load_records(folder)
    for name, directory in ((config.name, built.model_dir),
                            (config.name + FINETUNED_SUFFIX, built.retain_model_dir)):  # fmt: skip
        pointer = finetuned_pointer(name, home)
        write_text(pointer, json.dumps({"directory": str(directory), "scenario": str(folder)}))
    return built
