"""bench/seed_claims.py's figures beyond the unlearning curve (imported by it; not run alone):

- `audited`: the audit stage (no stresses, no neighbour attack) on the unlearned model and the
  retain model: the share of forget samples judged `forgotten`, the share leaking at 16 samples
  (any Carlini prefix gave the exact suffix in one of 16 sampled completions) and Min-K%++ 20's
  AUC (forget vs holdout), each with its 95% interval (Wilson for shares, the audit's for the
  AUC); the retain model is audited once per world seed;
- `Track`: ICU's claim, per epoch, of GA and ICU: suffix EL_10 (ICU's variant: prefixes from
  T - 50 only) on the forget set (every forget sample; the paper's fixed 64-sample subset is
  larger than the bench's forget set), general-text perplexity (eval half) and model utility
  (TOFU's harmonic mean of probability, ROUGE-L and truth score) on the first 64 retain facts,
  each read at matched suffix EL by `at_el`.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from forgetflow.audit.attacks import AuditData
from forgetflow.audit.carlini import sample_flags
from forgetflow.audit.config import AuditConfig
from forgetflow.audit.membership import METRIC_ATTACKS
from forgetflow.audit.stage import AuditRun, run_audit
from forgetflow.generation.config import BackendConfig
from forgetflow.generation.registry import open_backend
from forgetflow.intervals import wilson
from forgetflow.memorization.el import el_scores, eval_mode
from forgetflow.memorization.thresholds import outlier_rule
from forgetflow.memorization.windows import tokenize_samples
from forgetflow.records import ModelVariant, Sample
from forgetflow.scenarios.world.build import World
from forgetflow.scenarios.world.utility import world_qa_sets
from forgetflow.utility.qa import score_items
from forgetflow.utility.stage import passage_nlls
from forgetflow.utility.summary import model_utility

SUFFIX = 50  # ICU's EL_10: prefixes from T - 50
EL_N = 10
QA_ITEMS = 64
AUC_ATTACK = "min_kpp_20"  # the AUC reported for both variants (the verdicts': reference)
# the audit's defaults but the stresses and the neighbour attack (its 25 perturbed copies per
# sample cost more than the rest of the audit; no verdict rests on it)
AUDIT = AuditConfig(stresses=[], mia_attacks=[*METRIC_ATTACKS, "reference"])


def suffix_el(model, tokenizer, samples: Sequence[Sample]) -> float:
    """Mean EL_10 over prefix lengths T - 50 .. T - 10 (a shorter sample: from its first
    scored token)."""
    by_start: dict[int, list[list[int]]] = defaultdict(list)  # one batched EL call per start
    for item in tokenize_samples(tokenizer, samples):
        ids = list(item.ids[: item.end])
        by_start[max(item.start, len(ids) - SUFFIX)].append(ids)
    values = [v for start, rows in by_start.items() for v in el_scores(model, rows, EL_N, start)]
    return sum(values) / len(values)


def perplexity(model, tokenizer, passages: Sequence[str]) -> float:
    nlls = passage_nlls(model, tokenizer, passages, model.config.n_positions)
    return math.exp(sum(t for t, _ in nlls) / sum(c for _, c in nlls))


def retain_facts(world: World) -> list:
    """The first QA_ITEMS items of the world's retain facts (asked with untrained paraphrases)."""
    sets = {s.name: s for s in world_qa_sets(world, seed=0)}
    return list(sets["retain_facts"].items[:QA_ITEMS])


def utility(model, tokenizer, items: Sequence, log_dir: Path) -> float:
    with open_backend(BackendConfig(name="hf"), None, log_dir, loaded=(model, tokenizer)) as hf:
        scores = score_items(model, tokenizer, hf, items)
    return model_utility([scores]) or 0.0


class Track:
    """A loop hook: after every step (one epoch at full batch) the point (step, suffix EL,
    perplexity, utility); `spent` is its own time, which the bench takes out of the run's."""

    def __init__(self, model, tokenizer, world: World, forget, passages, log_dir: Path) -> None:
        self.model, self.tokenizer, self.forget, self.passages = model, tokenizer, forget, passages
        self.items, self.log_dir = retain_facts(world), log_dir
        self.points: list[dict] = []
        self.spent = 0.0
        self.measure(0)
        self.spent = 0.0  # step 0 is measured before the run's clock starts

    def measure(self, step: int) -> None:
        began = time.monotonic()
        with eval_mode(self.model):
            self.points.append({
                "step": step, "suffix_el": suffix_el(self.model, self.tokenizer, self.forget),
                "ppl": perplexity(self.model, self.tokenizer, self.passages),
                "utility": utility(self.model, self.tokenizer, self.items, self.log_dir),
            })  # fmt: skip
        self.spent += time.monotonic() - began

    def __call__(self, log) -> None:
        if log.step != self.points[-1]["step"]:  # a procedure's own log repeats its step
            self.measure(log.step)


def at_el(points: Sequence[dict], target: float) -> dict | None:
    """Perplexity and utility where the curve first falls to suffix EL `target`, linearly
    interpolated (None when it never does)."""
    for a, b in zip(points, points[1:], strict=False):
        if a["suffix_el"] >= target > b["suffix_el"]:
            share = (a["suffix_el"] - target) / (a["suffix_el"] - b["suffix_el"])
            return {key: a[key] + share * (b[key] - a[key]) for key in ("step", "ppl", "utility")}
    return None


def share(k: int, n: int) -> dict:
    low, high = wilson(k, n) or (math.nan, math.nan)
    return {"value": k / n if n else math.nan, "low": low, "high": high, "n": n}


def variant_figures(result, variant: str, forget_ids: set[str]) -> dict:
    """One variant's forgotten share, leak@16 share and Min-K%++ AUC, with intervals."""
    verdicts = [r for r in result.verdicts.to_pylist() if r["variant"] == variant]
    flags = sample_flags(result.carlini)
    leaked = [bool(f["leaked"]) for (s, v), f in flags.items() if v == variant and s in forget_ids]
    stem = f"mia_auc_{AUC_ATTACK}"
    auc = {f.metric.removeprefix(stem) or "value": f.value for f in result.figures
           if f.variant == variant and f.group == "forget_vs_holdout"
           and f.metric.startswith(stem)}  # fmt: skip
    return {"forgotten": share(sum(r["verdict"] == "forgotten" for r in verdicts), len(verdicts)),
            "leak_at_16": share(sum(leaked), len(leaked)),
            "mia_auc": {"attack": AUC_ATTACK, "value": auc.get("value"), "low": auc.get("_low"),
                        "high": auc.get("_high")}}  # fmt: skip


def audited(model_dir: Path, label: str, world: World, forget, holdout) -> dict:
    """The audit (every attack but the stresses) of one variant: `after` (the unlearned model,
    judged by the reference attack against the retain model) or `retain_model` (by Min-K%++)."""
    reference = world.retain_model_dir if label == "after" else None
    with tempfile.TemporaryDirectory(prefix="seed-claims-") as scratch:
        run = AuditRun([ModelVariant(label, model_dir)], label, Path(scratch), outlier_rule(),
                       reference_dir=reference)  # fmt: skip
        result = run_audit(AuditData(forget, [], holdout), run, AUDIT)
    return variant_figures(result, label, {s.sample_id for s in forget})


def audited_after(model, tokenizer, world: World, forget, holdout) -> dict:
    with tempfile.TemporaryDirectory(prefix="seed-claims-after-") as scratch:
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        return audited(Path(scratch), "after", world, forget, holdout)
