"""Weight rounding: symmetric absmax round-to-nearest per group of consecutive input-dimension
weights, applied in place to the weight matrix of every nn.Linear and transformers' Conv1D inside
a model's transformer blocks; embeddings, the LM head, norms and biases keep their values.

Per group of `group_size` consecutive weights along the input dimension of one output row (a
shorter last group gets its own scale): scale = absmax / L with L = 2^(bits-1) - 1,
q = round(w / scale) clamped to [-L, L] (round half to even), w' = q * scale, stored in the
weight's own float dtype; a group of zeros stays zero. The scale is computed in float64, so the
largest weight of a group comes back exactly and rounding an already rounded model changes no
bit. Linear.weight is (out, in); Conv1D.weight is (in, out).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

GROUP_SIZE = 128
SCHEME = "symmetric absmax round-to-nearest"
BITS = (8, 4)  # the widths the audit stresses with; any of 2..16 rounds


class QuantizeError(ValueError):
    """The model or the settings cannot be rounded (one line: what, where, what to do)."""


@dataclass(frozen=True)
class QuantizedModule:
    """One rounded weight matrix: the module's name, its kind (`linear` or `conv1d`), its input
    and output widths, and how many groups (each with its own scale) it was rounded in."""

    name: str
    kind: str
    in_features: int
    out_features: int
    groups: int


@dataclass(frozen=True)
class Quantization:
    """What `quantize_model` did: the settings, the rounded matrices, and the names of every
    parameter it left untouched (embeddings, LM head, norms, biases, anything outside the
    blocks)."""

    bits: int
    group_size: int
    modules: tuple[QuantizedModule, ...]
    untouched: tuple[str, ...]

    @property
    def levels(self) -> int:
        return levels(self.bits)


def levels(bits: int) -> int:
    """L = 2^(bits-1) - 1: the largest integer magnitude of a rounded weight."""
    return 2 ** (bits - 1) - 1


def check_settings(bits: int, group_size: int) -> None:
    if not 2 <= bits <= 16:
        raise QuantizeError(f"quantize: bits={bits}; give 2..16 (the audit uses {BITS})")
    if group_size < 1:
        raise QuantizeError(f"quantize: group_size={group_size}; give a positive group size")


def round_groups(weight: torch.Tensor, bits: int, group_size: int = GROUP_SIZE) -> torch.Tensor:
    """The rounded copy of a (rows, in) matrix whose input dimension is the last one, in its
    dtype: each row is cut into groups of `group_size` consecutive weights (the last may be
    shorter); each group is rounded to the integer grid of its own absmax scale."""
    check_settings(bits, group_size)
    rows, width = weight.shape
    pad = -width % group_size  # zeros do not change a group's absmax: the last group's own scale
    grouped = nn.functional.pad(weight.double(), (0, pad)).reshape(rows, -1, group_size)
    top = levels(bits)
    scale = grouped.abs().amax(dim=-1, keepdim=True) / top
    divisor = torch.where(scale > 0, scale, torch.ones_like(scale))  # a zero group stays zero
    q = torch.round(grouped / divisor).clamp_(-top, top)
    return (q * scale).reshape(rows, -1)[:, :width].to(weight.dtype)


def input_last(module: nn.Module) -> tuple[str, bool] | None:
    """(kind, transposed) of a module whose weight is rounded, None for any other: a Linear's
    weight is (out, in) as is; a Conv1D's is (in, out) and is transposed for rounding."""
    if isinstance(module, Conv1D):
        return "conv1d", True
    if isinstance(module, nn.Linear):
        return "linear", False
    return None


def block_names(model: nn.Module) -> list[str]:
    """The names of the model's transformer blocks: the outermost modules whose class the model
    declares as a block (`_no_split_modules`, e.g. GPT2Block, LlamaDecoderLayer)."""
    classes = set(getattr(model, "_no_split_modules", None) or ())
    found: list[str] = []
    for name, module in model.named_modules():
        outer = any(name.startswith(f"{block}.") for block in found)
        if type(module).__name__ in classes and not outer:
            found.append(name)
    if not found:
        raise QuantizeError(
            f"quantize: {type(model).__name__} declares no transformer block class "
            "(_no_split_modules), so its blocks cannot be told from its embeddings and head; "
            "quantize a transformers causal LM"
        )
    return found


def round_module(name: str, module: nn.Module, bits: int, group_size: int) -> QuantizedModule:
    """Round one Linear's or Conv1D's weight in place; what was rounded."""
    layout = input_last(module)
    if layout is None:
        kind = type(module).__name__
        raise QuantizeError(f"quantize: {name} is a {kind}; only a Linear or Conv1D is rounded")
    kind, transposed = layout
    weight = module.weight.data
    if not torch.isfinite(weight).all():
        raise QuantizeError(f"quantize: {name}.weight holds inf or nan; round a finite model")
    matrix = weight.t() if transposed else weight
    rounded = round_groups(matrix, bits, group_size)
    weight.copy_(rounded.t() if transposed else rounded)
    out_features, in_features = matrix.shape
    groups = out_features * -(-in_features // group_size)
    return QuantizedModule(name, kind, in_features, out_features, groups)


@torch.no_grad()
def quantize_model(model: nn.Module, bits: int, group_size: int = GROUP_SIZE) -> Quantization:
    """Round, in place, the weight of every Linear and Conv1D inside the model's transformer
    blocks (module docstring); everything else keeps its values. What it did."""
    check_settings(bits, group_size)
    blocks = block_names(model)
    done: list[QuantizedModule] = []
    for name, module in model.named_modules():
        inside = any(name.startswith(f"{block}.") for block in blocks)
        if inside and input_last(module) is not None:
            done.append(round_module(name, module, bits, group_size))
    if not done:
        raise QuantizeError(
            f"quantize: no Linear or Conv1D inside the blocks of {type(model).__name__}; "
            "nothing to round"
        )
    rounded = {f"{module.name}.weight" for module in done}
    untouched = tuple(name for name, _ in model.named_parameters() if name not in rounded)
    return Quantization(bits, group_size, tuple(done), untouched)
