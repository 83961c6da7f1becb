"""What a method's loss receives: token batches of the forget, retain and anti-sample sets."""

from __future__ import annotations

from dataclasses import dataclass

from forgetflow.lm import TokenBatch


@dataclass(frozen=True)
class UnlearningBatch:
    forget: TokenBatch
    retain: TokenBatch | None = None
    antisamples: TokenBatch | None = None
