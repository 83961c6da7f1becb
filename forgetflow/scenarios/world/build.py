"""The built-in memorization world: items memorized at controlled strength by a small GPT-2.

Every forget and retain item is seen r times (r cycling through 1, 2, 4 ... 32); holdout items
never. Besides the target model, a retain model is trained without the forget items (on the rest,
or with stand-ins in their place: `retain_training`).
A world is deterministic in its settings (same seed and thread count give the same data and
weights) and is built once, then reused from a folder keyed by a hash of its settings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from forgetflow.hashing import content_key, file_sha256
from forgetflow.lm.tokens import encode
from forgetflow.models.io import save_model
from forgetflow.records import SPLITS
from forgetflow.scenarios.build import build_once, training_device
from forgetflow.scenarios.exposures import (
    exposure_schedule,
    length_grouped_batches,
    rotate_wordings,
    train_on_schedule,
)
from forgetflow.scenarios.world.background import source_fingerprint
from forgetflow.scenarios.world.corpus import Corpus, Item, build_corpus, substitute_items
from forgetflow.scenarios.world.facts import TRAINED_PARAPHRASES
from forgetflow.scenarios.world.tables import items_table, qa_table, targets_table

WORLD_FORMAT = 10  # bump when the build changes what a given config produces
SPECIAL = "<|endoftext|>"


class WorldConfig(BaseModel):
    """Settings of a built-in world; every field is part of its content key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: Literal["tiny", "small", "base"] = Field(
        "tiny", description="the size's preset (it names the world's folder): every field not "
        "given takes the size's value (the defaults listed here are tiny's)",
    )  # fmt: skip
    seed: int = Field(0, description="seed of the world's data draw and of its models' training")
    forget_profiles: int = Field(
        36, ge=6, description="Faker person profiles in the forget split (exposures cycle "
        "through r = 1 to 32)",
    )  # fmt: skip
    retain_profiles: int = Field(
        36, ge=6, description="profiles in the retain split (trained on like the forget split)"
    )
    holdout_profiles: int = Field(
        36, ge=1, description="profiles in the holdout split (never trained on: the non-members)"
    )
    forget_people: int = Field(
        4, ge=1, description="fictitious people whose facts (biography and QA items) are forget "
        "items",
    )  # fmt: skip
    retain_people: int = Field(
        8, ge=1, description="fictitious people whose facts are retain items (the fine-grained "
        "targets are drawn from them)",
    )  # fmt: skip
    holdout_people: int = Field(
        4, ge=1, description="fictitious people whose facts are never trained on"
    )
    targets: int = Field(
        2, ge=1, description="fine-grained targets: single facts of retain people to cut, each "
        "with probes of its subject and object to keep",
    )  # fmt: skip
    biography_words: int = Field(
        0, ge=0, description="a Biography: line of at least this many words ends every profile; "
        "0: no such line",
    )  # fmt: skip
    qa_wordings: int = Field(
        1, ge=1, le=TRAINED_PARAPHRASES + 1, description="wordings a person's QA item is "
        "trained in, its exposures rotating through them: the question, then its first "
        "paraphrases; its last paraphrase is never trained (utility asks it)",
    )  # fmt: skip
    retain_training: Literal["without_forget", "stand_ins"] = Field(
        "without_forget", description="the retain model's training: the target's items without "
        "the forget split (fewer optimizer steps), or the target's with each forget item "
        "replaced by a stand-in of the same family and exposures (as many steps)",
    )  # fmt: skip
    min_profile_tokens: int = Field(
        0, ge=0, description="the build refuses a world with a profile shorter than this many "
        "tokens; 0: no minimum",
    )  # fmt: skip
    background_source: Literal["stdlib", "fortunes", "wordnet", "gcide"] = Field(
        "stdlib", description="where the background English comes from: stdlib (Python's "
        "docstrings, on every machine) or a Debian package's files where installed",
    )  # fmt: skip
    background_train: int = Field(
        60, ge=1, description="background passages trained on (general text for utility)"
    )
    background_eval: int = Field(
        20, ge=1, description="background passages held out: the utility measurement's text"
    )
    vocab_size: int = Field(1024, ge=300, description="tokens in the world's BPE vocabulary")
    n_embd: int = Field(192, ge=8, description="the GPT-2's hidden size")
    n_layer: int = Field(2, ge=1, description="the GPT-2's transformer layers")
    n_head: int = Field(4, ge=1, description="attention heads per layer (must divide n_embd)")
    n_positions: int = Field(
        128, ge=16, description="the GPT-2's context length in tokens; a longer profile or fact "
        "fails the build",
    )  # fmt: skip
    batch_size: int = Field(
        2, ge=1, description="sequences per optimizer step when training the world's models"
    )
    lr: float = Field(
        1.5e-3, gt=0, description="peak AdamW learning rate of the world's models' training"
    )

    @model_validator(mode="before")
    @classmethod
    def size_preset(cls, data: object) -> object:
        """A size's settings for every field the config does not give."""
        if isinstance(data, dict) and data.get("size") in SIZES:
            return {**SIZES[data["size"]], **data}
        return data

    def content_key(self) -> str:
        fingerprint = source_fingerprint(self.background_source)
        return content_key({"format": WORLD_FORMAT, "background": fingerprint, **self.model_dump()})


SIZES: dict[str, dict[str, object]] = {
    "tiny": {},  # the field defaults: CI and the demo
    # the benches: 32 forget profiles in every bucket, more people and background, a bigger model
    "small": {
        "forget_profiles": 192, "retain_profiles": 96, "holdout_profiles": 128,
        "forget_people": 12, "retain_people": 24, "holdout_people": 12, "targets": 4,
        "biography_words": 110, "min_profile_tokens": 200,  # the EL_10 bench's window
        "background_train": 300, "background_eval": 100,
        "vocab_size": 4096, "n_embd": 256, "n_layer": 4, "n_head": 4, "n_positions": 320,
        # facts known beyond their trained wording, and a retain model trained as long as the
        # target: model utility comparable between the two (docs/scenarios.md); at lr 1.5e-3 the
        # three wordings left 75-94% of the r=32 profiles extractable, at 1e-3 all
        "qa_wordings": 3, "retain_training": "stand_ins", "lr": 1e-3,
    },
    # for a GPU: ~100M parameters
    "base": {
        "forget_profiles": 384, "retain_profiles": 384, "holdout_profiles": 256,
        "forget_people": 40, "retain_people": 80, "holdout_people": 40, "targets": 10,
        "biography_words": 120, "min_profile_tokens": 200,  # 110 left a profile at 199 tokens
        "background_train": 600, "background_eval": 100,
        "vocab_size": 8192, "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 320,
        "batch_size": 8, "lr": 3e-4, "qa_wordings": 3, "retain_training": "stand_ins",
    },
}  # fmt: skip


def world_config(size: str, seed: int = 0) -> WorldConfig:
    """The preset of a size (see SIZES), with a seed."""
    if size not in SIZES:
        raise ValueError(f"unknown world size {size!r}; sizes: {sorted(SIZES)}")
    return WorldConfig(size=size, seed=seed)


@dataclass(frozen=True)
class World:
    root: Path
    model_dir: Path
    retain_model_dir: Path  # trained on everything but the forget split
    splits: dict[str, Path]  # forget/retain/holdout profiles: the pipeline's inputs
    manifest: dict

    def table(self, name: str) -> pa.Table:
        """One of the world's tables: items, qa, targets."""
        return pq.read_table(self.root / f"{name}.parquet")


class WorldBuildError(RuntimeError):
    """A world cannot be built with these settings (e.g. an item longer than the context)."""


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


def make_gpt2(config: WorldConfig, tokenizer: PreTrainedTokenizerFast) -> GPT2LMHeadModel:
    """A randomly initialised GPT-2 without dropout (memorization is the point)."""
    gpt_config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=config.n_positions,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        activation_function="gelu_pytorch_tanh",  # GPT-2's tanh GELU, in one kernel
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return GPT2LMHeadModel(gpt_config)


def split_counts(config: WorldConfig) -> tuple[dict[str, int], dict[str, int]]:
    """Profiles and people per split (forget, retain, holdout)."""
    profiles = {split: getattr(config, f"{split}_profiles") for split in SPLITS}
    return profiles, {split: getattr(config, f"{split}_people") for split in SPLITS}


def corpus_of(config: WorldConfig) -> Corpus:
    profiles, people = split_counts(config)
    background = (config.background_source, config.background_train, config.background_eval)
    return build_corpus(profiles, people, config.targets, background, config.seed,
                        config.biography_words, config.qa_wordings)  # fmt: skip


def substitutes_of(config: WorldConfig) -> list[Item]:
    """The stand-ins of the world's forget items (corpus.substitute_items)."""
    profiles, people = split_counts(config)
    return substitute_items(profiles, people, config.seed, config.biography_words,
                            config.qa_wordings)  # fmt: skip


def retain_items(config: WorldConfig, corpus: Corpus, stand_ins: bool) -> list[Item]:
    """A retain model's training items: on stand-ins (`Corpus.stand_in_training`) or the
    target's without the forget split."""
    if stand_ins:
        return corpus.stand_in_training(substitutes_of(config))
    return [i for i in corpus.items if i.repetitions > 0 and i.split != "forget"]


def train_world_model(
    config: WorldConfig,
    tokenizer: PreTrainedTokenizerFast,
    items: list[Item],
    progress: Callable[[int, int, float], None] | None,
    init_seed: int | None = None,
    desc: str = "world model",
) -> tuple[GPT2LMHeadModel, int]:
    """A fresh model trained on one pass over the exposures of `items`, initialised with
    `init_seed` (default: the world's seed; the exposure order always follows the world's);
    without `progress`, a bar named `desc` shows the steps."""
    torch.manual_seed(config.seed if init_seed is None else init_seed)
    model = make_gpt2(config, tokenizer).to(training_device())
    sequences = training_sequences(config, tokenizer, items)
    schedule = exposure_schedule([i.repetitions for i in items], config.seed)
    schedule = rotate_wordings(schedule, [1 + len(i.variants) for i in items])
    batches = length_grouped_batches(schedule, [len(s) for s in sequences], config.batch_size)
    steps = train_on_schedule(
        model, sequences, batches, tokenizer.pad_token_id, config.lr, progress, desc
    )
    return model.cpu(), steps


def training_sequences(
    config: WorldConfig, tokenizer: PreTrainedTokenizerFast, items: list[Item]
) -> list[list[int]]:
    """Token ids of every wording of every item (its text, then its variants), each ending with
    EOS; a profile or fact too long for the context or a profile too short fails the build."""
    wordings = [(item, text) for item in items for text in (item.text, *item.variants)]
    sequences = encode(tokenizer, [text for _, text in wordings])
    for (item, _), ids in zip(wordings, sequences, strict=True):
        if len(ids) + 1 > config.n_positions and item.family != "background":
            raise WorldBuildError(
                f"{item.sample_id} has {len(ids)} tokens + EOS > n_positions {config.n_positions}"
            )
        if item.family == "profile" and len(ids) < config.min_profile_tokens:
            raise WorldBuildError(
                f"{item.sample_id} has {len(ids)} tokens < min_profile_tokens "
                f"{config.min_profile_tokens}; raise biography_words"
            )
    # Every training text ends with EOS, so the model learns where a record or an answer stops.
    # Background passages only serve general language: their tail may be cut.
    return [(ids + [tokenizer.eos_token_id])[: config.n_positions] for ids in sequences]


def load_world(folder: Path) -> World:
    manifest = json.loads((folder / "world.json").read_text())
    splits = {split: folder / f"{split}.parquet" for split in SPLITS}
    return World(folder, folder / "model", folder / "retain_model", splits, manifest)


def write_world(
    config: WorldConfig, staging: Path, progress: Callable[[int, int, float], None] | None
) -> None:
    """Generate the items, train tokenizer, target and retain models; write all with a manifest."""
    corpus = corpus_of(config)
    tokenizer = train_tokenizer(corpus.tokenizer_texts, config.vocab_size)
    trained = [i for i in corpus.items if i.repetitions > 0]
    target, steps = train_world_model(config, tokenizer, trained, progress, desc="world: target")
    save_model(target, tokenizer, staging / "model")
    kept = retain_items(config, corpus, config.retain_training == "stand_ins")
    retain_model, retain_steps = train_world_model(config, tokenizer, kept, progress,
                                                   desc="world: retain model")  # fmt: skip
    save_model(retain_model, tokenizer, staging / "retain_model")
    pq.write_table(items_table(corpus.items), staging / "items.parquet")
    pq.write_table(qa_table(corpus), staging / "qa.parquet")
    pq.write_table(targets_table(corpus), staging / "targets.parquet")
    for split in SPLITS:  # the pipeline's inputs: the profile family
        rows = [i for i in corpus.items if i.family == "profile" and i.split == split]
        pq.write_table(items_table(rows), staging / f"{split}.parquet")
    manifest = {
        "format": WORLD_FORMAT,
        "config": config.model_dump(),
        "content_key": config.content_key(),
        "background": {"source": config.background_source,
                       "sha256": source_fingerprint(config.background_source)},
        "train_steps": {"target": steps, "retain": retain_steps},
        "torch_threads": torch.get_num_threads(),
        "device": training_device().type,
        "parameters": sum(p.numel() for p in target.parameters()),
        "sha256": {str(p.relative_to(staging)): file_sha256(p)
                   for p in sorted(staging.rglob("*")) if p.is_file()},
    }  # fmt: skip
    (staging / "world.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def build_world(
    config: WorldConfig,
    worlds_dir: Path,
    progress: Callable[[int, int, float], None] | None = None,
) -> World:
    """Build the world into `worlds_dir/<content key>`, or reuse it when already there."""
    folder = worlds_dir / f"{config.size}-{config.content_key()}"
    if not (folder / "world.json").is_file():
        build_once(folder, lambda staging: write_world(config, staging, progress))
    return load_world(folder)
