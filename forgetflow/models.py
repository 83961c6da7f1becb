"""Load and save causal LMs and their tokenizers as plain HF directories (safetensors only)."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from forgetflow.catalog import ModelPullError, resolve_model


class ModelLoadError(RuntimeError):
    """The model directory is missing or is not a loadable HF causal LM."""


def check_model_dir(path: Path) -> None:
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"{path} is not an HF model directory (no config.json there)")


def model_path(model: str | Path) -> Path:
    """The model directory `model` names: a directory, or a pulled model's name."""
    try:
        path = resolve_model(model)
    except ModelPullError as err:
        raise ModelLoadError(str(err)) from err
    check_model_dir(path)
    return path


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
    float32, in eval mode."""
    path = model_path(model_dir)
    tokenizer = load_tokenizer(path)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path, local_files_only=True, dtype="float32", use_safetensors=True
        )
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
