"""The HTML report's plots: one function per figure, each taking pyarrow tables (and plain values)
and returning a matplotlib Figure built with the object API (never pyplot: no global state, no
display, safe in threads), or None when its data are absent or empty (the caller then writes
"not applicable: <reason>"). Every figure has a title, labelled axes and a legend of its labelled
series; nothing is random. `png_bytes` renders a figure for embedding."""

from __future__ import annotations

import io
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import roc_auc_score, roc_curve

FORGET = "forget"
HISTOGRAM_BINS = 20
HISTOGRAM_SERIES = (("before", "tab:red"), ("after", "tab:blue"), ("retain model", "tab:green"))
UTILITY_NAMES = ("guard_loss", "retain_loss", "retain_nll", "guard_nll")
LOW_FPR = 1e-3  # the left end of the low-FPR panel
LEAK_AT_K = re.compile(r"^carlini_(?P<prefix>.+)_leak_at_(?P<k>\d+)$")
VERDICT_COLOURS = {"forgotten": "tab:green", "still_extractable": "tab:red",
                   "leaks_fields": "tab:orange", "membership_detectable": "tab:purple",
                   "over_unlearned": "tab:gray"}  # fmt: skip
OTHER_COLOURS = ("tab:blue", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
FACTS_BARS = (("questions still answered", "tab:blue"), ("anti-samples accepted", "tab:green"),
              ("anti-samples rejected", "tab:red"))  # fmt: skip


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes (100 dpi, tight bounding box)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


# ---- helpers


def _figure(ncols: int = 1, nrows: int = 1, width: float = 6.4, height: float = 4.0,
            **subplots: object) -> tuple[Figure, list[Axes]]:  # fmt: skip
    """A new figure (constrained layout) and its axes, flattened row by row."""
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, list(fig.subplots(nrows, ncols, squeeze=False, **subplots).ravel())


def _where(table: pa.Table, **equals: object) -> pa.Table:
    """The rows of `table` whose columns equal the given values."""
    for column, value in equals.items():
        table = table.filter(pc.equal(table[column], value))
    return table


def _in_order(values: Iterable[str]) -> list[str]:
    """The distinct values in the order they first appear."""
    return list(dict.fromkeys(values))


def _label(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def _legend(ax: Axes, *others: Axes, **options: object) -> None:
    """One legend on `ax` of the labelled artists of `ax` and `others` (its twins), if any."""
    handles, labels = [], []
    for each in (ax, *others):
        found_handles, found_labels = each.get_legend_handles_labels()
        handles += found_handles
        labels += found_labels
    if handles:
        ax.legend(handles, labels, fontsize="small", **options)


def _note(ax: Axes, text: str) -> None:
    """`text` in the middle of an axes that has nothing to plot."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center")


def _category_axis(ax: Axes, names: Sequence[str]) -> np.ndarray:
    """Horizontal-bar positions for `names`, labelled, the first on top."""
    positions = np.arange(len(names))
    ax.set_yticks(positions, labels=list(names))
    ax.invert_yaxis()
    return positions


# ---- memorization


def _last_step_values(ledger: pa.Table | None, metric: str) -> np.ndarray:
    """The forget-split values of `metric` at the largest step that scored it (empty if none)."""
    rows = _where(ledger, split=FORGET, metric=metric) if ledger is not None else None
    if rows is None or rows.num_rows == 0:
        return np.empty(0)
    return _where(rows, step=pc.max(rows["step"]).as_py())["value"].to_numpy()


def memorization_histograms(before: pa.Table, after: pa.Table | None, retain: pa.Table | None,
                            metric: str, threshold: float | None) -> Figure | None:  # fmt: skip
    """Overlaid step histograms (shared bins) of the per-sample forget-split `metric` (ledger
    columns split, metric, step, value; each ledger at its largest step): "before", "after",
    "retain model", and a dashed vertical line at the outlier `threshold`. None when `before`
    has no forget rows of `metric`."""
    tables = (before, after, retain)
    series = [(label, colour, _last_step_values(table, metric))
              for (label, colour), table in zip(HISTOGRAM_SERIES, tables, strict=True)]  # fmt: skip
    if series[0][2].size == 0:
        return None
    series = [s for s in series if s[2].size]
    edges = np.histogram_bin_edges(np.concatenate([s[2] for s in series]), bins=HISTOGRAM_BINS)
    fig, (ax,) = _figure()
    for label, colour, values in series:
        ax.hist(values, bins=edges, histtype="step", linewidth=1.5, color=colour, label=label)
    if threshold is not None:
        ax.axvline(threshold, linestyle="--", color="black", label="outlier threshold")
    _label(ax, f"Forget set: {metric} per sample", metric, "forget samples")
    _legend(ax)
    return fig


# ---- unlearning


def _series(log: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of `name` in a training log, by step."""
    rows = _where(log, name=name).sort_by("step")
    return rows["step"].to_numpy(), rows["value"].to_numpy()


def _forget_panel(ax: Axes, log: pa.Table) -> list[Axes]:
    """forget_loss on `ax` and forget_ma_mean on a twin y axis, where logged; the twins made."""
    steps, loss = _series(log, "forget_loss")
    if steps.size:
        ax.plot(steps, loss, color="tab:red", label="forget_loss")
    steps, ma = _series(log, "forget_ma_mean")
    if not steps.size:
        if not ax.lines:
            _note(ax, "no forget loss or MA was logged")
        return []
    twin = ax.twinx()
    twin.plot(steps, ma, color="tab:blue", marker="o", markersize=3, label="forget_ma_mean")
    twin.set_ylabel("forget MA (mean)")
    return [twin]


def _utility_panel(ax: Axes, log: pa.Table) -> None:
    """Each utility-guard name of the log over the steps, or a note that none was measured."""
    names = [name for name in UTILITY_NAMES if _where(log, name=name).num_rows]
    for name in names:
        ax.plot(*_series(log, name), label=name)
    if not names:
        _note(ax, "no utility guard was measured")


def training_curves(training_log: pa.Table, stopped_by: str | None = None) -> Figure | None:
    """Two panels over the training log's steps (columns step, name, value): "forget"
    (forget_loss, and forget_ma_mean on a second y axis) and "utility" (guard_loss, retain_loss,
    retain_nll, guard_nll where present), each with a vertical line at the last step labelled
    "stop: <stopped_by>" (or "last step"). None when the log is empty."""
    if training_log.num_rows == 0:
        return None
    last = pc.max(training_log["step"]).as_py()
    stop = f"stop: {stopped_by}" if stopped_by else "last step"
    fig, (forget, utility) = _figure(ncols=2, width=11.0)
    twins = _forget_panel(forget, training_log)
    _utility_panel(utility, training_log)
    for ax, title, ylabel in ((forget, "forget", "forget loss"), (utility, "utility", "loss")):
        ax.axvline(last, linestyle=":", color="gray", label=stop)
        _label(ax, title, "step", ylabel)
    _legend(forget, *twins)
    _legend(utility)
    fig.suptitle("Unlearning training curves")
    return fig


# ---- membership inference


def roc_attacks(membership: pa.Table) -> list[str]:
    """The membership attacks present (column attack), sorted."""
    return sorted(set(membership["attack"].to_pylist()))


def _roc(rows: pa.Table) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(fpr, tpr, AUC) of scores `score` against labels `member`; None without both labels."""
    labels = np.asarray(rows["member"].to_pylist(), dtype=bool)
    if np.unique(labels).size < 2:
        return None
    scores = rows["score"].to_numpy()
    fpr, tpr, _ = roc_curve(labels, scores)
    return fpr, tpr, float(roc_auc_score(labels, scores))


def roc_curves(membership: pa.Table, group: str = "forget_vs_holdout",
               attack: str = "min_kpp_20") -> Figure | None:  # fmt: skip
    """One ROC curve per variant (in order of appearance) of `attack` on `group` (membership
    columns member, score), labelled "<variant> (AUC 0.xx)", with the chance diagonal; beside
    it the same curves on a log FPR axis from 1e-3 to 1. A variant whose rows are all members
    or all non-members is skipped; None when no variant is left."""
    rows = _where(membership, group=group, attack=attack)
    curves = [(variant, _roc(_where(rows, variant=variant)))
              for variant in _in_order(rows["variant"].to_pylist())]  # fmt: skip
    curves = [(variant, found) for variant, found in curves if found is not None]
    if not curves:
        return None
    fig, (full, low) = _figure(ncols=2, width=11.0)
    chance = np.concatenate(([0.0], np.logspace(np.log10(LOW_FPR), 0.0, 61)))
    for ax in (full, low):
        for variant, (fpr, tpr, auc) in curves:
            ax.plot(fpr, tpr, label=f"{variant} (AUC {auc:.2f})")
        ax.plot(chance, chance, linestyle=":", color="gray", label="chance")
        ax.set_ylim(0.0, 1.0)
    low.set_xscale("log")
    low.set_xlim(LOW_FPR, 1.0)
    _label(full, "ROC", "false positive rate", "true positive rate")
    _label(low, "low-FPR region", "false positive rate (log)", "true positive rate")
    _legend(full)
    fig.suptitle(f"Membership inference: {attack} on {group}")
    return fig


# ---- extraction


def _leak_shares(rows: pa.Table) -> dict[tuple[str, str], dict[int, float]]:
    """Per (variant, prefix) in order of appearance: k -> the mean of the carlini_<prefix>
    _leak_at_<k> values (the share of samples that leaked within k), by k."""
    found: dict[tuple[str, str], dict[int, list[float]]] = {}
    columns = (rows[c].to_pylist() for c in ("variant", "attack", "value"))
    for variant, attack, value in zip(*columns, strict=True):
        match = LEAK_AT_K.match(attack)
        if match:
            per_k = found.setdefault((variant, match["prefix"]), {})
            per_k.setdefault(int(match["k"]), []).append(value)
    return {key: {k: float(np.mean(per_k[k])) for k in sorted(per_k)}
            for key, per_k in found.items()}  # fmt: skip


def leak_at_k(audit_samples: pa.Table, split: str = "forget") -> Figure | None:
    """The share of `split` samples that leaked within k samples against k (audit_samples
    columns split, variant, attack carlini_<prefix>_leak_at_<k>, value 1.0/0.0), one line per
    (variant, prefix), x on a log2 scale with ticks at the k present, y from 0 to 1. None when
    there are no leak-at-k rows for `split`."""
    shares = _leak_shares(_where(audit_samples, split=split))
    if not shares:
        return None
    fig, (ax,) = _figure()
    for (variant, prefix), per_k in shares.items():
        ax.plot(list(per_k), list(per_k.values()), marker="o", clip_on=False,
                label=f"{variant}, prefix {prefix}")  # fmt: skip
    ks = sorted({k for per_k in shares.values() for k in per_k})
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, labels=[str(k) for k in ks])
    ax.minorticks_off()
    ax.set_ylim(0.0, 1.0)
    _label(ax, f"Leak at k ({split} split)", "k (samples drawn)", f"{split} samples leaked (share)")
    _legend(ax)
    return fig


def relearning_curve(points: Sequence[tuple[str, int, float]], metric_label: str) -> Figure | None:
    """One line with markers per variant family (in order of appearance) of `metric_label`
    against the relearning steps (0: the variant before relearning), from (family, steps,
    value) points. None when there are no points."""
    if not points:
        return None
    families: dict[str, list[tuple[int, float]]] = {}
    for family, steps, value in points:
        families.setdefault(family, []).append((steps, value))
    fig, (ax,) = _figure()
    for family, pairs in families.items():
        steps, values = zip(*sorted(pairs), strict=True)
        ax.plot(steps, values, marker="o", label=family)
    _label(ax, f"Relearning: {metric_label}", "relearning steps", metric_label)
    _legend(ax)
    return fig


# ---- verdicts, facts, stages


def _verdict_colour(verdict: str) -> str:
    """The fixed colour of a verdict name (an unknown name's by a stable hash of it)."""
    known = VERDICT_COLOURS.get(verdict)
    return known or OTHER_COLOURS[zlib.crc32(verdict.encode()) % len(OTHER_COLOURS)]


def verdict_counts(verdicts: pa.Table) -> Figure | None:
    """A horizontal stacked bar per variant (in order of appearance) of the number of rows of
    each verdict (verdicts columns variant, verdict), one fixed colour per verdict, the known
    verdicts first. None when the table is empty."""
    if verdicts.num_rows == 0:
        return None
    pairs = list(zip(verdicts["variant"].to_pylist(), verdicts["verdict"].to_pylist(), strict=True))
    counts = Counter(pairs)
    variants = _in_order(variant for variant, _ in pairs)
    present = {verdict for _, verdict in pairs}
    order = [v for v in VERDICT_COLOURS if v in present] + sorted(present - set(VERDICT_COLOURS))
    fig, (ax,) = _figure(width=8.0, height=1.5 + 0.5 * len(variants))
    positions, left = _category_axis(ax, variants), np.zeros(len(variants))
    for verdict in order:
        widths = np.array([counts[(variant, verdict)] for variant in variants], dtype=float)
        ax.barh(positions, widths, left=left, color=_verdict_colour(verdict), label=verdict)
        left += widths
    _label(ax, "Verdicts per variant", "samples", "variant")
    _legend(ax, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def _round_counts(rounds: pa.Table) -> dict[str, dict[int, list[int]]]:
    """Per target (sorted), per round (sorted): [still answered, accepted, rejected] counts;
    rejected = built (falsified != "") and not accepted."""
    found: dict[str, dict[int, list[int]]] = {}
    columns = ("target_id", "round", "still_answered", "falsified", "accepted")
    for target, round_, still, falsified, accepted in zip(
        *(rounds[c].to_pylist() for c in columns), strict=True
    ):
        counts = found.setdefault(target, {}).setdefault(round_, [0, 0, 0])
        counts[0] += int(still)
        counts[1] += int(accepted)
        counts[2] += int(bool(falsified) and not accepted)
    return {t: {r: found[t][r] for r in sorted(found[t])} for t in sorted(found)}


def facts_rounds(rounds: pa.Table) -> Figure | None:
    """One panel per target (unstar_rounds columns target_id, round, still_answered, falsified,
    accepted): grouped bars per round of the questions still answered, the anti-samples
    accepted and those rejected (built, not accepted). None when the table is empty."""
    if rounds.num_rows == 0:
        return None
    counts = _round_counts(rounds)
    fig, axes = _figure(nrows=len(counts), height=0.8 + 2.2 * len(counts), sharex=True)
    width = 0.8 / len(FACTS_BARS)
    for ax, (target, per_round) in zip(axes, counts.items(), strict=True):
        xs = np.array(list(per_round), dtype=float)
        for i, (label, colour) in enumerate(FACTS_BARS):
            heights = [per_round[r][i] for r in per_round]
            ax.bar(xs + (i - 1) * width, heights, width=width, color=colour, label=label)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        _label(ax, f"target {target}", "round" if ax is axes[-1] else "", "count")
    rounds_present = sorted({r for per_round in counts.values() for r in per_round})
    axes[0].set_xticks(rounds_present)
    _legend(axes[0])
    fig.suptitle("UnSTAR rounds per target")
    return fig


def stage_seconds(seconds: Sequence[tuple[str, float]]) -> Figure | None:
    """A horizontal bar of each (stage, wall-clock seconds), in the order given, the total in
    the title. None when there are no stages."""
    if not seconds:
        return None
    names, values = zip(*seconds, strict=True)
    fig, (ax,) = _figure(height=1.5 + 0.35 * len(names))
    ax.barh(_category_axis(ax, names), values, color="tab:blue")
    _label(ax, f"Wall-clock time per stage (total {sum(values):.1f} s)", "seconds", "stage")
    return fig


def pareto(points: Sequence[tuple[str, float, float, float, float, bool]],
           forget_label: str, utility_label: str) -> Figure | None:  # fmt: skip
    """A sweep's (label, forget mean, forget spread, utility mean, utility spread, on the front):
    one point per label with its spread as error bars, the Pareto front joined. None when
    empty."""
    if not points:
        return None
    fig, (ax,) = _figure()
    for label, forget, forget_sd, utility, utility_sd, best in points:
        ax.errorbar(forget, utility, xerr=forget_sd, yerr=utility_sd, fmt="o" if best else "x",
                    capsize=3, label=f"{label}{' (front)' if best else ''}")  # fmt: skip
    front = sorted((p[1], p[3]) for p in points if p[5])
    if len(front) > 1:
        ax.plot(*zip(*front, strict=True), color="grey", linestyle="--", linewidth=1)
    _label(ax, "Sweep: forget against utility (mean ± sd over seeds)", forget_label,
           utility_label)  # fmt: skip
    _legend(ax)
    return fig
