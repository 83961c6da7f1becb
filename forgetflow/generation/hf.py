"""Batched generation on an in-process HF model: left padding, KV cache, greedy or sampled."""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, StaticCache
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.generation.base import Prompt, SamplingParams, check_positions
from forgetflow.generation.config import BACKENDS
from forgetflow.generation.registry import BackendRequest
from forgetflow.lm.logprobs import pair_logprobs
from forgetflow.lm.tokens import prompt_ids
from forgetflow.models.io import load_model, positions_in
from forgetflow.records import Completion


def pad_left(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, width - len(seq) :] = torch.tensor(list(seq), dtype=torch.long)
            mask[row, width - len(seq) :] = 1
    return ids, mask


def pick_next(logits: torch.Tensor, params: SamplingParams, rng: torch.Generator) -> torch.Tensor:
    """Next token per row from (B, V) logits: argmax, or top-k/top-p sampling at temperature."""
    if params.temperature == 0.0:
        return logits.argmax(dim=-1)
    scaled = logits.float() / params.temperature
    if params.top_k:
        kth = scaled.topk(min(params.top_k, scaled.shape[-1]), dim=-1).values[:, -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    if params.top_p < 1.0:
        ordered, order = scaled.sort(dim=-1, descending=True)
        cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
        drop = cumulative - ordered.softmax(dim=-1) >= params.top_p  # keep the first over p
        scaled = scaled.scatter(-1, order, ordered.masked_fill(drop, float("-inf")))
    return torch.multinomial(scaled.softmax(dim=-1), 1, generator=rng).squeeze(-1)


def cut_at_stop(tokenizer: PreTrainedTokenizerBase, ids: list[int], stop: Sequence[str]):
    """Shortest token prefix whose text contains a stop string, and the text before that string."""
    for end in range(1, len(ids) + 1):
        text = tokenizer.decode(ids[:end], skip_special_tokens=True)
        hits = [text.index(s) for s in stop if s in text]
        if hits:
            return ids[:end], text[: min(hits)]
    return ids, tokenizer.decode(ids, skip_special_tokens=True)


def static_cache(model: PreTrainedModel, length: int) -> StaticCache | None:
    """A preallocated cache of `length` positions for the model, None where it takes none (its
    own growing cache is used then)."""
    if not getattr(model, "_can_compile_fullgraph", False):
        return None
    try:
        return StaticCache(config=model.config, max_cache_len=length)
    except (TypeError, ValueError, AttributeError):
        return None


def repeat_rows(cache: object, rows: torch.Tensor) -> bool:
    """Replace the cache's batch rows by `rows` (indices, repeats allowed); False where the cache
    cannot (nothing changed then)."""
    layers = getattr(cache, "layers", None)
    if layers and all(isinstance(getattr(y, "keys", None), torch.Tensor) for y in layers):
        for layer in layers:
            layer.keys, layer.values = layer.keys[rows], layer.values[rows]
            if hasattr(layer, "batch_size"):
                layer.batch_size = len(rows)
        return True
    select = getattr(cache, "batch_select_indices", None)
    if callable(select):
        select(rows)
        return True
    return False


class HFBackend:
    """Generation on a loaded model; prompts are text (encoded with special tokens) or token ids.

    Prompts are decoded longest first in batches of at most `batch_size` rows and at most
    `token_budget` positions (rows x (longest prompt + max_tokens)); `progress` shows a bar
    when there is more than one batch. A prompt plus `max_tokens` past the model's position
    limit (`max_positions`) is a PositionLimitError before anything is decoded; nothing is cut
    (generate_each fits prompts to the limit).
    """

    name = "hf"

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        batch_size: int = 32,
        token_budget: int | None = None,
        progress: bool = False,
    ) -> None:
        if batch_size < 1 or (token_budget is not None and token_budget < 1):
            raise ValueError(f"batch_size {batch_size} and token_budget {token_budget}: not >= 1")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.token_budget = token_budget
        self.progress = progress
        self.max_positions = positions_in(model.config.to_dict())
        self.keeps_logits = "logits_to_keep" in inspect.signature(model.forward).parameters

    def _batches(self, lengths: Sequence[int], new_tokens: int) -> list[list[int]]:
        """Indices grouped longest first under the row cap and the token budget."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        groups: list[list[int]] = []
        for index in order:
            width = lengths[groups[-1][0]] + new_tokens if groups else 0
            fits = groups and len(groups[-1]) < self.batch_size
            if fits and self.token_budget is not None:
                fits = (len(groups[-1]) + 1) * width <= self.token_budget
            if fits:
                groups[-1].append(index)
            else:
                groups.append([index])
        return groups

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Completion]:
        rng = torch.Generator().manual_seed(params.seed)
        ids = [seq for seq in prompt_ids(self.tokenizer, prompts) for _ in range(params.n)]
        check_positions(self.max_positions, ids, params.max_tokens)  # else IndexError in torch
        out: list[Completion | None] = [None] * len(ids)
        groups = self._batches([len(seq) for seq in ids], params.max_tokens)
        bar = tqdm(total=len(ids), desc="generate", disable=not self.progress or len(groups) < 2)
        for group in groups:
            for index, (tokens, logprobs) in zip(
                group, self._decode([ids[i] for i in group], params, rng), strict=True
            ):
                out[index] = self._completion(tokens, logprobs, params)
            bar.update(len(group))
        bar.close()
        return [c for c in out if c is not None]

    def _completion(
        self, ids: list[int], logprobs: list[float], params: SamplingParams
    ) -> Completion:
        if params.stop:
            ids, text = cut_at_stop(self.tokenizer, ids, params.stop)
        else:
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
        scores = tuple(logprobs[: len(ids)]) if params.logprobs else None
        return Completion(tuple(ids), text, scores)

    @torch.no_grad()
    def _decode(
        self, prompts: list[list[int]], params: SamplingParams, rng: torch.Generator
    ) -> list[tuple[list[int], list[float]]]:
        out, mask, positions = self._prefill(prompts, params.max_tokens)
        eos = self.tokenizer.eos_token_id
        done = torch.zeros(len(prompts), dtype=torch.bool, device=mask.device)
        generated: list[torch.Tensor] = []
        scores: list[torch.Tensor] = []
        for step in range(params.max_tokens):
            logits = out.logits[:, -1].float()  # (B, V)
            allowed = logits
            if eos is not None and step < params.min_tokens:
                allowed = logits.clone()
                allowed[:, eos] = float("-inf")
            token = pick_next(allowed, params, rng).masked_fill(done, self.tokenizer.pad_token_id)
            generated.append(token)
            if params.logprobs:
                scores.append(logits.log_softmax(dim=-1).gather(-1, token[:, None])[:, 0])
            if not params.ignore_eos and eos is not None:
                done |= token.eq(eos)
                if bool(done.all()):
                    break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=-1)
            positions = positions[:, -1:] + 1
            out = self.model(
                input_ids=token.unsqueeze(-1),
                attention_mask=mask,
                position_ids=positions,
                past_key_values=out.past_key_values,
            )
        tokens = torch.stack(generated, dim=1).tolist()  # (B, new)
        logprobs = torch.stack(scores, dim=1).tolist() if scores else [[] for _ in tokens]
        if not params.ignore_eos:
            tokens = [self._trim(row) for row in tokens]
        return list(zip(tokens, logprobs, strict=True))

    def _prefill(self, prompts: list[list[int]], new_tokens: int):
        """The model's output on the prompts (the last position's logits and a cache with room for
        `new_tokens` more), their attention mask and positions.

        The cache is preallocated (StaticCache) where the model takes one: a growing cache copies
        itself at every new token, most of the decoding time on CPU. Copies of one prompt side by
        side (the n samples of a prompt) are computed once and their cache rows repeated. Only the
        last position's logits are kept where the model allows it."""
        first = [i for i in range(len(prompts)) if i == 0 or prompts[i] != prompts[i - 1]]
        out, mask, positions = self._forward([prompts[i] for i in first], new_tokens)
        if len(first) == len(prompts):
            return out, mask, positions
        counts = [b - a for a, b in zip(first, [*first[1:], len(prompts)], strict=True)]
        rows = torch.repeat_interleave(torch.arange(len(first)), torch.tensor(counts))
        rows = rows.to(mask.device)
        if not repeat_rows(out.past_key_values, rows):
            return self._forward(prompts, new_tokens)
        out.logits = out.logits[rows]
        return out, mask[rows], positions[rows]

    def _forward(self, prompts: list[list[int]], new_tokens: int):
        """The model's output on left-padded prompts, their attention mask and positions."""
        device = self.model.device
        ids, mask = (t.to(device) for t in pad_left(prompts, self.tokenizer.pad_token_id))
        positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)  # (B, T)
        kept = {"logits_to_keep": 1} if self.keeps_logits else {}
        cache = static_cache(self.model, ids.shape[1] + new_tokens)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                         past_key_values=cache, **kept)  # fmt: skip
        return out, mask, positions

    def _trim(self, row: list[int]) -> list[int]:
        eos = self.tokenizer.eos_token_id
        return row[: row.index(eos) + 1] if eos in row else row

    def loglikelihood(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        scored = pair_logprobs(self.model, self.tokenizer, pairs, self.batch_size)
        return [total for total, _ in scored]


@BACKENDS.register("hf", serves_model=True)
@contextmanager
def open_hf(request: BackendRequest) -> Iterator[HFBackend]:
    """In-process decoding with the request's loaded model, or the directory's, loaded here."""
    model, tokenizer = request.loaded or load_model(request.model_directory())
    config = request.config
    yield HFBackend(model, tokenizer, config.batch_size, config.token_budget, progress=True)
