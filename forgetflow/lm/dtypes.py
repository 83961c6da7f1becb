"""The dtype a bfloat16 setting actually runs in: bfloat16 where the device computes it natively,
float32 on a CPU without bf16 instructions (there torch emulates bf16 matmuls: 1 GFLOP/s against
123 in float32 on an AVX2-only CPU), unless forced with FORGETFLOW_FORCE_BF16=1.

Native: any accelerator (CUDA, MPS, ...); a CPU whose flags (/proc/cpuinfo) list `avx512_bf16`
or `amx_bf16`, or whose torch capability names bf16 or AMX.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import torch

FORCE_ENV = "FORGETFLOW_FORCE_BF16"  # "1": keep bfloat16 on any CPU
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

log = logging.getLogger(__name__)


def cpu_capability() -> str:
    """torch's CPU capability (e.g. AVX2, AVX512), what bench figures print beside them."""
    return torch.backends.cpu.get_cpu_capability()


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo; empty where there is none."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def native_bf16(device: torch.device | str) -> bool:
    """Whether `device` computes bfloat16 natively (see the module's rule)."""
    if torch.device(device).type != "cpu":
        return True
    capability = cpu_capability().upper()
    return "BF16" in capability or "AMX" in capability or bool(cpu_flags() & set(BF16_FLAGS))


def forced() -> bool:
    return os.environ.get(FORCE_ENV, "") == "1"


@functools.cache
def warn_fallback(capability: str) -> None:
    """One warning per process and capability."""
    log.warning(
        "bfloat16 requested on a CPU without native bf16 (torch capability %s, no %s flag): "
        "running in float32; set %s=1 to keep bfloat16",
        capability, " or ".join(BF16_FLAGS), FORCE_ENV,
    )  # fmt: skip


def effective_dtype(
    requested: str | torch.dtype, device: torch.device | str, force: bool | None = None
) -> torch.dtype:
    """The dtype to run a `requested` setting in on `device`: bfloat16 becomes float32 on a CPU
    without native bf16 (one warning), unless `force` (default: FORGETFLOW_FORCE_BF16=1)."""
    dtype = DTYPES[requested] if isinstance(requested, str) else requested
    if dtype != torch.bfloat16 or native_bf16(device):
        return dtype
    if forced() if force is None else force:
        return dtype
    warn_fallback(cpu_capability())
    return torch.float32


def server_dtype(requested: str) -> str:
    """The dtype name a local server (vLLM) runs `requested` in, on CUDA when torch sees one."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return str(effective_dtype(requested, device)).removeprefix("torch.")
