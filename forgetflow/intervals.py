"""95% intervals of shares (docs/metrics.md, "Verdicts"): every share the audit and utility report
carries its n and a Wilson score interval, as the Figures `<metric>`, `<metric>_low`,
`<metric>_high`."""

from __future__ import annotations

import math
from dataclasses import replace

from forgetflow.records import Figure

Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile


class IntervalInputError(ValueError):
    """A count that cannot be a share (negative, or more hits than trials)."""


def wilson(k: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of k successes in n trials (95% for the default z):
    (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), p = k/n; None when n = 0."""
    if n < 0 or not 0 <= k <= max(n, 0):
        raise IntervalInputError(f"a share needs 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return None
    p, z2 = k / n, z * z
    scale = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / scale
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n)) / scale
    low = 0.0 if k == 0 else max(0.0, center - half)  # exact ends: no float residue
    high = 1.0 if k == n else min(1.0, center + half)
    return low, high


def share_figures(template: Figure, k: int, n: int) -> list[Figure]:
    """The share k/n as `template`'s metric (value and n replaced) with its Wilson interval as
    `<metric>_low` and `<metric>_high` (same n and direction); none when n = 0."""
    interval = wilson(k, n)
    if interval is None:
        return []
    values = (("", k / n), ("_low", interval[0]), ("_high", interval[1]))
    return [
        replace(template, metric=template.metric + suffix, value=v, n=n) for suffix, v in values
    ]
