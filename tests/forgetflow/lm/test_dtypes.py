"""A bfloat16 setting runs in bfloat16 only where the device computes it natively."""

from __future__ import annotations

import logging

import pytest
import torch

from forgetflow.lm import dtypes


@pytest.fixture()
def cpu(monkeypatch):
    """Set the CPU's torch capability and flags; the one-time warning is reset."""
    dtypes.warn_fallback.cache_clear()
    monkeypatch.delenv(dtypes.FORCE_ENV, raising=False)

    def set_cpu(capability: str, flags: set[str]) -> None:
        monkeypatch.setattr(dtypes, "cpu_capability", lambda: capability)
        monkeypatch.setattr(dtypes, "cpu_flags", lambda: flags)

    yield set_cpu
    dtypes.warn_fallback.cache_clear()


def test_bf16_falls_back_to_float32_on_a_cpu_without_it_with_one_warning(cpu, caplog) -> None:
    cpu("AVX2", {"avx2", "fma"})
    with caplog.at_level(logging.WARNING, logger=dtypes.__name__):
        assert dtypes.effective_dtype("bfloat16", "cpu") == torch.float32
        assert dtypes.effective_dtype(torch.bfloat16, torch.device("cpu")) == torch.float32
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "torch capability AVX2" in lines[0] and dtypes.FORCE_ENV in lines[0]
    assert dtypes.effective_dtype("float32", "cpu") == torch.float32


@pytest.mark.parametrize(
    ("capability", "flags"),
    [("AVX512", {"avx512f", "avx512_bf16"}), ("AVX512", {"amx_bf16"}), ("AVX512_BF16", set())],
)
def test_bf16_stays_on_a_cpu_with_native_bf16(cpu, caplog, capability, flags) -> None:
    cpu(capability, flags)
    assert dtypes.effective_dtype("bfloat16", "cpu") == torch.bfloat16
    assert not caplog.records


def test_bf16_stays_when_forced_or_on_an_accelerator(cpu, monkeypatch, caplog) -> None:
    cpu("AVX2", set())
    assert dtypes.effective_dtype("bfloat16", "cpu", force=True) == torch.bfloat16
    assert dtypes.effective_dtype("bfloat16", "cuda") == torch.bfloat16
    monkeypatch.setenv(dtypes.FORCE_ENV, "1")
    assert dtypes.effective_dtype("bfloat16", "cpu") == torch.bfloat16
    assert not caplog.records
