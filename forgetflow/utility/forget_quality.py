"""Forget quality (TOFU): the p-value of a two-sample Kolmogorov-Smirnov test between the truth
ratios R of the forget set under the evaluated model and under the retain model (scipy's
`ks_2samp`, two-sided, exact where scipy chooses it). A high p-value: the model's R cannot be
told from a model's that never saw the forget set; a low one: it can.

For a facts request the forget set's QA items are scored as TOFU does (utility/qa.py). For a
sequences request (records), each forget record's PII fields are: the record up to a field
("...\\nSSN:") is the context, the true value the answer, and ALTERNATIVES Faker values of the
same field the perturbed answers; the first field (the record's name line, its extraction
prompt) and free-text fields (a biography) are not asked.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from scipy.stats import ks_2samp

from forgetflow.data.pii import PROFILE_FIELDS, fake_value, make_faker
from forgetflow.records import Sample
from forgetflow.utility.sets import QAItem, QASet

ALTERNATIVES = 3  # Faker values per field: the perturbed answers
ASKED_FIELDS = PROFILE_FIELDS[1:]  # the name line is the record's prompt


def ks_forget_quality(model_ratios: Sequence[float], retain_ratios: Sequence[float]) -> float:
    """The KS test's p-value between two samples of truth ratios (NaN when either is empty)."""
    if not model_ratios or not retain_ratios:
        return math.nan
    return float(ks_2samp(list(model_ratios), list(retain_ratios)).pvalue)


def documents(samples: Sequence[Sample]) -> list[Sample]:
    """Each record whole again: a text's windows (`<id>#k`, context aside) joined in order."""
    pieces: dict[str, list[tuple[int, Sample]]] = defaultdict(list)
    whole: list[Sample] = []
    for sample in samples:
        if sample.is_window:
            pieces[sample.source_id].append((int(sample.sample_id.rsplit("#", 1)[1]), sample))
        elif not sample.is_qa:
            whole.append(sample)
    for source, parts in pieces.items():
        parts.sort(key=lambda part: part[0])
        first = parts[0][1]
        text = "".join(part.text for _, part in parts)
        whole.append(Sample(source, first.split, text, first.repetitions))
    return whole


def record_field_items(document: Sample, faker_seed: int) -> list[QAItem]:
    """One item per asked field of a record: the record up to the field and its true value, with
    ALTERNATIVES distinct Faker values of the field (seeded by `faker_seed`)."""
    faker = make_faker(faker_seed)
    items, start = [], 0
    for line in document.text.splitlines(keepends=True):
        field, sep, value = line.partition(": ")
        value = value.strip()
        if sep and field in ASKED_FIELDS and value:
            context = document.text[: start + len(field) + 1]  # up to "Field:"
            wrong: list[str] = []
            while len(wrong) < ALTERNATIVES:
                drawn = fake_value(faker, field)
                if drawn != value and drawn not in wrong:
                    wrong.append(drawn)
            items.append(QAItem(f"{document.sample_id}/{field}", f"{field} of {document.sample_id}",
                                value, perturbed_answers=tuple(wrong),
                                repetitions=document.repetitions, context=context))  # fmt: skip
        start += len(line)
    return items


def field_items(samples: Sequence[Sample], seed: int) -> list[QAItem]:
    """The field items of every record among `samples` (texts or their windows)."""
    out: list[QAItem] = []
    for index, document in enumerate(documents(samples)):
        out += record_field_items(document, seed * 100_003 + index)
    return out


def qa_items(samples: Sequence[Sample]) -> list[QAItem]:
    """A QA forget set's rows as items (no perturbed answers: forget quality needs them from a
    utility QA file; probability and ROUGE-L do not)."""
    return [QAItem(s.sample_id, s.prompt, s.text.strip(), repetitions=s.repetitions,
                   context=s.prompt) for s in samples if s.is_qa]  # fmt: skip


def request_forget_set(samples: Sequence[Sample], seed: int) -> QASet | None:
    """The erasure request's forget set as utility scores it: a sequences request's record
    fields (`forget_records`), a facts request's QA rows (`forget_request`); None when there is
    neither (texts without "Field: value" lines)."""
    fields = field_items(samples, seed)
    if fields:
        return QASet("forget_records", "forget", tuple(fields), "the request's forget set")
    rows = qa_items(samples)
    return (
        QASet("forget_request", "forget", tuple(rows), "the request's forget set") if rows else None
    )
