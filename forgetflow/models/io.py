"""Load and save causal LMs and their tokenizers as plain HF directories (safetensors only)."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.models.names import resolve_model
from forgetflow.models.pulled import ModelPullError


class ModelLoadError(RuntimeError):
    """The model directory is missing or is not a loadable HF causal LM."""


ADAPTER_CONFIG = "adapter_config.json"  # a LoRA adapter saved by peft


def check_model_dir(path: Path) -> None:
    if not (path / "config.json").is_file() and not (path / ADAPTER_CONFIG).is_file():
        raise ModelLoadError(
            f"{path} is not an HF model directory (no config.json or {ADAPTER_CONFIG} there)"
        )


def adapter_base(path: Path) -> Path | None:
    """The base model directory of a LoRA adapter directory, None for a plain model."""
    if (path / "config.json").is_file() or not (path / ADAPTER_CONFIG).is_file():
        return None
    base = json.loads((path / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
    if not base:
        raise ModelLoadError(f"the adapter in {path} does not name its base model")
    return model_path(base)


def model_path(model: str | Path, home: str | Path | None = None) -> Path:
    """The model directory `model` names: a directory, or the name of a model pulled into `home`
    (default: the environment's)."""
    try:
        path = resolve_model(model, home)
    except ModelPullError as err:
        raise ModelLoadError(str(err)) from err
    check_model_dir(path)
    return path


POSITION_KEYS = ("max_position_embeddings", "n_positions", "n_ctx")


def positions_in(config: dict) -> int | None:
    """The longest sequence a model config allows (its position limit), or None when it names
    none."""
    for key in POSITION_KEYS:
        if isinstance(config.get(key), int):
            return int(config[key])
    return None


def max_positions(model_dir: str | Path) -> int | None:
    """The longest sequence the directory's model takes (a LoRA adapter's: its base model's), or
    None when its config names none."""
    path = model_path(model_dir)
    path = adapter_base(path) or path
    return positions_in(json.loads((path / "config.json").read_text()))


def load_tokenizer(model_dir: str | Path) -> PreTrainedTokenizerBase:
    """The directory's tokenizer (or a pulled model's); one without a pad token pads with EOS."""
    path = model_path(model_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"cannot load a tokenizer from {path}: {err}") from err
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    model_dir: str | Path,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer from a local directory (or a pulled model's), in
    float32, in eval mode; a LoRA adapter directory loads its base with the adapter merged."""
    path = model_path(model_dir)
    tokenizer = load_tokenizer(path)
    base = adapter_base(path)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            base or path, local_files_only=True, dtype="float32", use_safetensors=True
        )
        if base is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, path).merge_and_unload()
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"cannot load a causal LM from {path}: {err}") from err
    model.eval()
    return model, tokenizer


def save_model(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: str | Path
) -> Path:
    """Write weights as safetensors plus config and tokenizer files into `out_dir`."""
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path
