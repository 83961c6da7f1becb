"""Every attack on one variant: the greedy whole-remainder extraction (all splits for a fully
attacked variant); Carlini prefix extraction, field leaks and facts (a QA row's question and
untrained paraphrases) on forget and holdout, sampled on the forget set of a fully attacked
variant and greedy otherwise (the holdout's greedy level is the comparison), through the
configured backend; then membership inference in-process (forget vs holdout, and retain vs
holdout as the positive control for a fully attacked variant)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from transformers import PreTrainedModel

from forgetflow.audit.carlini import carlini_extraction, sampling
from forgetflow.audit.config import AuditConfig
from forgetflow.audit.extraction import extraction_table
from forgetflow.audit.facts import fact_table
from forgetflow.audit.leaks import field_leak_table
from forgetflow.audit.membership import MembershipSettings, membership
from forgetflow.audit.roc import RocSummary
from forgetflow.audit.variants import RETAIN_MODEL, Attacked
from forgetflow.generation.base import replace_params
from forgetflow.generation.registry import open_backend
from forgetflow.models.io import load_model
from forgetflow.records import Figure, Sample


@dataclass(frozen=True)
class AuditData:
    """The samples the audit asks about: the forget set, the retain set (the positive control
    of membership inference, and extraction) and the holdout (non-members)."""

    forget: Sequence[Sample]
    retain: Sequence[Sample]
    holdout: Sequence[Sample]


@dataclass(frozen=True)
class Findings:
    """One variant's tables (None where the attack did not run), membership figures and ROC
    summaries by (group, attack), and warnings."""

    extraction: pa.Table
    carlini: pa.Table | None
    leaks: pa.Table | None
    facts: pa.Table | None
    membership: pa.Table | None
    figures: list[Figure]
    rocs: dict[tuple[str, str], RocSummary]
    warnings: list[str]


def attack(
    target: Attacked,
    data: AuditData,
    settings: AuditConfig,
    log_dir: Path,
    reference: PreTrainedModel | None,
    seed: int,
) -> Findings:
    """Every attack of the settings on `target` (see the module)."""
    model, tokenizer = load_model(target.variant.model_dir)
    label = target.label
    asked = [*target.forget, *data.holdout]
    everything = [*target.forget, *data.retain, *data.holdout] if target.full else asked
    carlini = leaks = facts = None
    with open_backend(settings.generator, target.variant.model_dir, log_dir / label,
                      loaded=(model, tokenizer)) as backend:  # fmt: skip
        greedy: dict[str, str] = {}  # the whole-remainder completions, for field leaks too
        extraction = extraction_table(backend, tokenizer, everything, label,
                                      settings.prefix_tokens, greedy)  # fmt: skip
        extraction = extraction.append_column("backend", pa.array([backend.name] * len(everything)))
        if settings.carlini is not None:  # sampled on the forget set, the holdout greedily
            chosen = settings.carlini
            params = replace_params(sampling(chosen), logprobs=False) if target.full else None
            drawn = {s.sample_id for s in target.forget} if target.full else False
            carlini = carlini_extraction(backend, tokenizer, asked, label, chosen, drawn)
            leaks = pa.concat_tables([
                field_leak_table(backend, tokenizer, target.forget, label, params, greedy),
                field_leak_table(backend, tokenizer, data.holdout, label, None, greedy),
            ])  # fmt: skip
            facts = pa.concat_tables([
                fact_table(backend, tokenizer, target.forget, label, params),
                fact_table(backend, tokenizer, data.holdout, label, None),
            ])  # fmt: skip
    groups = [(target.forget_group, target.forget)]
    if target.full:
        groups.append(("retain_vs_holdout", data.retain))
    wanted = settings.mia_attacks if target.full else settings.stressed_attacks
    tables, figures, rocs, warnings = [], [], {}, []
    for group, members in groups:
        if wanted == [] or not members or not data.holdout:
            continue
        # the retain model trained on the retain set: no reference for the positive control
        # asked explicitly of a fully attacked variant, reference without a model is an error
        plain = target.is_retain or group == "retain_vs_holdout"
        plain = plain or (reference is None and not target.full)
        chosen = None if wanted is None else tuple(wanted)
        if plain and chosen is not None:
            chosen = tuple(a for a in chosen if a != "reference")
        checks_holdout = label == RETAIN_MODEL and group != "retain_vs_holdout"
        mia = MembershipSettings(variant=label, group=group, attacks=chosen, seed=seed,
                                 fpr=settings.mia_fpr, retain_model=checks_holdout)  # fmt: skip
        result = membership(model, tokenizer, members, data.holdout, settings=mia,
                            reference=None if plain else reference)  # fmt: skip
        named = pa.array([group] * result.table.num_rows, pa.string())
        tables.append(result.table.append_column("group", named))
        figures += result.figures
        rocs |= {(group, name): roc for name, roc in result.rocs.items()}
        warnings += result.warnings
    found = pa.concat_tables(tables) if tables else None
    facts = facts if facts is not None and facts.num_rows else None
    return Findings(extraction, carlini, leaks, facts, found, figures, rocs, warnings)
