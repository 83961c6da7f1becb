"""ICU's analogous ("learn") set: for each forget sample, its single nearest neighbour by sentence
embedding, drawn from a pool of rows the run may learn on (Tang et al., "Learn while Unlearn",
data_prep.py: MiniLM embeddings, FAISS IndexFlatL2, column 0 of the k-NN result).

The pool is the retain rows plus an optional user-given pool, never a forget, holdout or
evaluation row: those are dropped by id and by identical text (whitespace runs collapsed), so a
copy of a forget sample under another id cannot become its own "analogous" sample. Texts are
embedded whole (`lm.prompts.full_text`: prompt + text) as unit rows, and the neighbour is the
nearest by euclidean distance (scikit-learn NearestNeighbors, exact brute force, as FAISS's flat
L2 index). Rows with identical text keep only their first copy, and exact distance ties go to the
earlier pool row, so the result is a function of the inputs' order. Two forget samples may share
a neighbour (ICU's code allows it).

Embeddings come from a sentence embedder (models/embedder.py, the pulled `minilm-l6-v2`), or, the
named fallback where none was pulled, from the target model itself: its last hidden state
mean-pooled over the attention mask and L2-normalised (`model_mean_hidden`). refinement.py
measures its cosines with the same encoders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import torch
from sklearn.neighbors import NearestNeighbors
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.lm.prompts import full_text
from forgetflow.lm.tokens import pad_right
from forgetflow.models.embedder import DEFAULT_EMBEDDER, Embedder
from forgetflow.models.io import positions_in
from forgetflow.records import Sample

MODEL_MEAN_HIDDEN = "model_mean_hidden"  # the fallback embedder's recorded name
ANALOGOUS_SUFFIX = "~analogous"  # an analogous row's id: <forget id>~analogous
TIES_LOOKED_AT = 8  # neighbours read per query to break exact distance ties by pool order


class AnalogousPoolError(ValueError):
    """No candidate is left to pair a forget sample with."""


class TextEncoder(Protocol):
    """What an embedding needs: unit-length rows, one per text (models/embedder.py's Embedder)."""

    def encode(self, texts: Sequence[str]) -> torch.Tensor: ...


@dataclass(frozen=True)
class ModelMeanHidden:
    """The fallback encoder: a causal LM's last hidden state, mean-pooled over the attention mask
    and L2-normalised (an empty text is the zero row), `batch_size` texts at a time, cut to the
    model's position limit. The model's train/eval mode is kept."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    batch_size: int = 16

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        return mean_hidden_states(self, texts)

    def similarity(self, a: str, b: str) -> float:
        first, second = self.encode([a, b])
        return float(first @ second)


@torch.no_grad()
def mean_hidden_states(encoder: ModelMeanHidden, texts: Sequence[str]) -> torch.Tensor:
    """(N, hidden) unit rows of `texts` under `encoder`'s model (see ModelMeanHidden), on CPU."""
    model, tokenizer = encoder.model, encoder.tokenizer
    limit = positions_in(model.config.to_dict())
    ids = [seq[:limit] for seq in tokenizer(list(texts), add_special_tokens=True)["input_ids"]]
    out = torch.zeros(len(ids), model.config.get_text_config().hidden_size)
    filled = [i for i, seq in enumerate(ids) if seq]  # an all-padding row would give NaNs
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    for start in range(0, len(filled), encoder.batch_size):
        rows = filled[start : start + encoder.batch_size]
        batch = pad_right([ids[i] for i in rows], tokenizer.pad_token_id)
        mask = batch.attention_mask.to(device)
        hidden = model(input_ids=batch.input_ids.to(device), attention_mask=mask,
                       output_hidden_states=True, use_cache=False).hidden_states[-1]  # fmt: skip
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        out[rows] = torch.nn.functional.normalize(mean.float(), dim=-1).cpu()
    model.train(was_training)
    return out


@dataclass(frozen=True)
class TextEmbedding:
    """An encoder and the name a run records for it (`minilm-l6-v2` or `model_mean_hidden`)."""

    name: str
    encoder: TextEncoder

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        return self.encoder.encode(texts)


def choose_embedding(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, embedder: Embedder | None = None
) -> TextEmbedding:
    """The sentence embedder where one is given (recorded as DEFAULT_EMBEDDER, the pulled
    MiniLM), else the named fallback: the target model's own mean last hidden state."""
    if embedder is not None:
        return TextEmbedding(DEFAULT_EMBEDDER, embedder)
    return TextEmbedding(MODEL_MEAN_HIDDEN, ModelMeanHidden(model, tokenizer))


@dataclass(frozen=True)
class CandidatePool:
    """Where analogous rows come from: the retain rows and an optional user-given pool; the
    `excluded` rows (holdout, evaluation sets) are never chosen, nor anything with their text."""

    retain: Sequence[Sample]
    extra: Sequence[Sample] = ()
    excluded: Sequence[Sample] = ()


@dataclass(frozen=True)
class AnalogousSet:
    """One analogous row per forget sample (`source_id` = its forget sample's id, id
    `<forget id>~analogous`, split `retain`), the pool row each copies (forget id -> pool id),
    and the embedder used."""

    samples: tuple[Sample, ...]
    neighbours: dict[str, str]
    embedder: str


def same_text_key(sample: Sample) -> str:
    """A sample's full text with whitespace runs collapsed: what "identical text" compares."""
    return " ".join(full_text(sample).split())


BARRED_SPLITS = ("forget", "holdout")  # a pool row of these splits is never a candidate


def candidates(forget: Sequence[Sample], pool: CandidatePool) -> list[Sample]:
    """The pool's rows in order (retain first, then the extra pool), without forget, holdout
    and excluded rows (by id, by split and by identical text) and without repeated texts."""
    barred = [*forget, *pool.excluded]
    barred_ids = {s.sample_id for s in barred}
    seen = {same_text_key(s) for s in barred}
    kept = []
    for sample in [*pool.retain, *pool.extra]:
        key = same_text_key(sample)
        if sample.sample_id in barred_ids or sample.split in BARRED_SPLITS or key in seen:
            continue
        seen.add(key)
        kept.append(sample)
    return kept


def nearest(queries: torch.Tensor, rows: torch.Tensor) -> list[int]:
    """Index of each query's nearest row by euclidean distance; an exact tie goes to the lower
    index (the earlier pool row)."""
    k = min(TIES_LOOKED_AT, len(rows))
    index = NearestNeighbors(n_neighbors=k, metric="euclidean", algorithm="brute")
    distances, found = index.fit(rows.double().numpy()).kneighbors(queries.double().numpy())
    return [min(zip(d.tolist(), f.tolist(), strict=True))[1]
            for d, f in zip(distances, found, strict=True)]  # fmt: skip


def analogous_set(
    forget: Sequence[Sample], pool: CandidatePool, embedding: TextEmbedding
) -> AnalogousSet:
    """Each forget sample's nearest pool row (see the module docstring), copied as a retain row
    tied to it. An empty pool after the exclusions is an AnalogousPoolError."""
    rows = candidates(forget, pool)
    if not rows:
        raise AnalogousPoolError(
            f"no candidate for analogous samples: the pool's {len(pool.retain)} retain and "
            f"{len(pool.extra)} extra rows are all forget, holdout or excluded rows (by id or "
            "text); give retain rows or a pool of other texts"
        )
    if not forget:
        return AnalogousSet((), {}, embedding.name)
    vectors = embedding.encode([full_text(s) for s in [*forget, *rows]])
    picked = [rows[i] for i in nearest(vectors[: len(forget)], vectors[len(forget) :])]
    samples = tuple(
        replace(
            row, sample_id=f"{f.sample_id}{ANALOGOUS_SUFFIX}", split="retain", source_id=f.sample_id
        )  # fmt: skip
        for f, row in zip(forget, picked, strict=True)
    )
    neighbours = {f.sample_id: row.sample_id for f, row in zip(forget, picked, strict=True)}
    return AnalogousSet(samples, neighbours, embedding.name)
