"""Sentence embeddings from a sentence-transformers directory (the pulled `minilm-l6-v2`, or any
such local directory): the transformer's last hidden states mean-pooled over the attention mask,
L2-normalised, as its modules.json and 1_Pooling/config.json declare. Loaded with transformers
alone (sentence-transformers is not a dependency); another pooling is refused."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

from forgetflow.models.io import ModelLoadError, model_path
from forgetflow.models.pulled import ModelPullError, pulled

DEFAULT_EMBEDDER = "minilm-l6-v2"
POOLING = "1_Pooling/config.json"


class Embedder:
    """`similarity(a, b)`: the cosine of two texts' embeddings; `encode(texts)`: unit rows."""

    def __init__(self, directory: str | Path, batch_size: int = 64) -> None:
        path = model_path(directory)
        pooling = path / POOLING
        if not pooling.is_file():
            raise ModelLoadError(f"{path} is no sentence-transformers directory (no {POOLING})")
        mode = json.loads(pooling.read_text())
        if not mode.get("pooling_mode_mean_tokens") or any(
            mode.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens")
        ):
            raise ModelLoadError(f"{pooling}: only mean pooling is supported")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        except (OSError, ValueError) as err:
            raise ModelLoadError(f"cannot load an embedder from {path}: {err}") from err
        self.batch_size = batch_size

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        rows = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(list(texts[start : start + self.batch_size]), padding=True,
                                   truncation=True, return_tensors="pt")  # fmt: skip
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            rows.append(torch.nn.functional.normalize(mean, dim=-1))
        return torch.cat(rows) if rows else torch.empty(0, self.model.config.hidden_size)

    def similarity(self, a: str, b: str) -> float:
        first, second = self.encode([a, b])
        return float(first @ second)


def pulled_embedder(home: str | Path | None = None) -> Embedder | None:
    """The pulled DEFAULT_EMBEDDER, or None where it was not pulled."""
    try:
        found = [m for m in pulled(home) if m.name == DEFAULT_EMBEDDER]
    except ModelPullError:
        return None
    return Embedder(found[0].directory) if found else None
