"""The built-in memorization world: PII profiles memorized by a small GPT-2 trained from scratch.

A world is deterministic in its settings (same seed and thread count give the same data and
weights) and is built once, then reused from a folder keyed by a hash of its settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from pydantic import BaseModel, ConfigDict, Field
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from forgetflow.data.profiles import make_profiles
from forgetflow.lm import encode, pad_right, prefix_lengths, target_logprobs
from forgetflow.models import save_model

WORLD_FORMAT = 1  # bump when the build changes what a given config produces
SPECIAL = "<|endoftext|>"


class WorldConfig(BaseModel):
    """Settings of a built-in world; every field is part of its content key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: Literal["tiny"] = "tiny"
    seed: int = 0
    n_forget: int = Field(16, ge=1)
    n_retain: int = Field(48, ge=1)
    n_holdout: int = Field(32, ge=1)
    vocab_size: int = Field(2048, ge=300)
    n_embd: int = Field(64, ge=8)
    n_layer: int = Field(2, ge=1)
    n_head: int = Field(4, ge=1)
    n_positions: int = Field(128, ge=16)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(3e-3, gt=0)
    max_steps: int = Field(1500, ge=1)
    check_every: int = Field(50, ge=1)

    def content_key(self) -> str:
        payload = json.dumps({"format": WORLD_FORMAT, **self.model_dump()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class World:
    root: Path
    model_dir: Path
    splits: dict[str, Path]
    manifest: dict


class WorldBuildError(RuntimeError):
    """The world's model did not memorize its training profiles within `max_steps`."""


def train_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer that prepends `<|endoftext|>` as BOS to every text."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[SPECIAL],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{SPECIAL} $A", special_tokens=[(SPECIAL, tok.token_to_id(SPECIAL))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=SPECIAL, eos_token=SPECIAL, pad_token=SPECIAL
    )


def split_rows(config: WorldConfig) -> dict[str, list[str]]:
    total = config.n_forget + config.n_retain + config.n_holdout
    texts = make_profiles(total, config.seed)
    bounds = {"forget": (0, config.n_forget)}
    bounds["retain"] = (config.n_forget, config.n_forget + config.n_retain)
    bounds["holdout"] = (config.n_forget + config.n_retain, total)
    return {split: texts[lo:hi] for split, (lo, hi) in bounds.items()}


def fully_memorized(
    model: GPT2LMHeadModel, sequences: list[list[int]], prompts: list[int], pad_id: int
) -> bool:
    """True when every suffix token is the model's argmax after its prompt (greedy extraction)."""
    with torch.no_grad():
        _, hits, valid = target_logprobs(model, pad_right(sequences, pad_id))
    positions = torch.arange(hits.shape[1]).unsqueeze(0)  # (1, T-1)
    in_suffix = positions >= torch.tensor(prompts).unsqueeze(1) - 1  # predicts token >= prompt
    return bool(hits[valid & in_suffix].all())


def make_gpt2(config: WorldConfig, tokenizer: PreTrainedTokenizerFast) -> GPT2LMHeadModel:
    """A randomly initialised GPT-2 without dropout (memorization is the point)."""
    gpt_config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=config.n_positions,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return GPT2LMHeadModel(gpt_config)


def train_model(
    config: WorldConfig,
    sequences: list[list[int]],
    prompts: list[int],
    tokenizer: PreTrainedTokenizerFast,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[GPT2LMHeadModel, int]:
    """Train from scratch until every training sequence is memorized; returns the step count."""
    torch.manual_seed(config.seed)
    model = make_gpt2(config, tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    order: list[int] = []
    for step in range(1, config.max_steps + 1):
        if len(order) < config.batch_size:
            order += torch.randperm(len(sequences), generator=generator).tolist()
        picked, order = order[: config.batch_size], order[config.batch_size :]
        batch = pad_right([sequences[i] for i in picked], tokenizer.pad_token_id)
        model.train()
        logprobs, _, valid = target_logprobs(model, batch)
        loss = -(logprobs * valid).sum() / valid.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if progress is not None:
            progress(step, loss.item())
        if step % config.check_every == 0:
            model.eval()
            if fully_memorized(model, sequences, prompts, tokenizer.pad_token_id):
                return model, step
    raise WorldBuildError(
        f"the world model did not memorize its {len(sequences)} training profiles in "
        f"{config.max_steps} steps; raise max_steps or the model size"
    )


def samples_table(split: str, texts: list[str]) -> pa.Table:
    ids = [f"{split}-{i:04d}" for i in range(len(texts))]
    return pa.table(
        {"sample_id": ids, "split": [split] * len(texts), "text": texts},
        schema=pa.schema(
            [("sample_id", pa.string()), ("split", pa.string()), ("text", pa.string())]
        ),
    )


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_world(folder: Path) -> World:
    manifest = json.loads((folder / "world.json").read_text())
    splits = {split: folder / f"{split}.parquet" for split in manifest["splits"]}
    return World(root=folder, model_dir=folder / "model", splits=splits, manifest=manifest)


def write_world(
    config: WorldConfig, staging: Path, progress: Callable[[int, float], None] | None
) -> None:
    """Generate the splits, train tokenizer and model, and write all of it with a manifest."""
    rows = split_rows(config)
    tokenizer = train_tokenizer(rows["forget"] + rows["retain"], config.vocab_size)
    trained = rows["forget"] + rows["retain"]
    sequences = encode(tokenizer, trained)
    prompts = prefix_lengths(tokenizer, trained, fallback_tokens=8)
    longest = max(len(s) for s in sequences)
    if longest > config.n_positions:
        raise WorldBuildError(f"a profile has {longest} tokens > n_positions")
    model, steps = train_model(config, sequences, prompts, tokenizer, progress)
    save_model(model, tokenizer, staging / "model")
    for split, texts in rows.items():
        pq.write_table(samples_table(split, texts), staging / f"{split}.parquet")
    manifest = {
        "format": WORLD_FORMAT,
        "config": config.model_dump(),
        "content_key": config.content_key(),
        "train_steps": steps,
        "torch_threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "splits": list(rows),
        "sha256": {
            str(p.relative_to(staging)): file_sha256(p)
            for p in sorted(staging.rglob("*"))
            if p.is_file()
        },
    }
    (staging / "world.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def build_world(
    config: WorldConfig,
    worlds_dir: Path,
    progress: Callable[[int, float], None] | None = None,
) -> World:
    """Build the world into `worlds_dir/<content key>`, or reuse it when already there."""
    folder = worlds_dir / f"{config.size}-{config.content_key()}"
    if (folder / "world.json").is_file():
        return load_world(folder)
    worlds_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=worlds_dir))
    try:
        write_world(config, staging, progress)
        if folder.exists():  # a concurrent build finished first
            shutil.rmtree(staging)
        else:
            os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return load_world(folder)
