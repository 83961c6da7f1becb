from __future__ import annotations

import zlib

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from forgetflow.audit.membership import (
    ATTACKS,
    MembershipInputError,
    MembershipSettings,
    membership,
    privleak_figures,
)
from forgetflow.audit.roc import privleak
from forgetflow.hashing import stable_seed
from forgetflow.lm.prompts import qa_prompt
from forgetflow.lm.tokens import encode
from forgetflow.models.io import load_model
from forgetflow.records import Sample

METRIC_ATTACKS = ("loss", "zlib", "min_k_20", "min_kpp_20")


def world_samples(world, split: str, repetitions: int | None = None) -> list[Sample]:
    rows = pq.read_table(world.splits[split]).to_pylist()
    return [Sample(r["sample_id"], r["split"], r["text"], r["repetitions"]) for r in rows
            if repetitions is None or r["repetitions"] == repetitions]  # fmt: skip


def qa_sample(world) -> Sample:
    row = next(r for r in world.table("qa").to_pylist() if r["family"] == "qa")
    return Sample(row["sample_id"], row["split"], " " + row["answer"], row["repetitions"],
                  prompt=qa_prompt(row["question"]))  # fmt: skip


def scored_ids(tokenizer, sample: Sample) -> tuple[list[int], int]:
    """A sample's ids and the index of its first scored token (a QA row: after the question)."""
    ids = encode(tokenizer, [sample.prompt + sample.text])[0]
    if not sample.prompt:
        return ids, 1
    question = encode(tokenizer, [sample.prompt])[0]
    assert ids[: len(question)] == question
    return ids, len(question)


def full_logprobs(model, ids: list[int]) -> torch.Tensor:
    """(T - 1, V): the log-softmax of the next-token logits after each position, one sequence."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].double()
    return torch.log_softmax(logits, dim=-1)


def token_logprobs(model, ids: list[int], start: int) -> list[float]:
    logp = full_logprobs(model, ids)
    return [float(logp[t - 1, ids[t]]) for t in range(start, len(ids))]


def naive_scores(model, tokenizer, sample: Sample) -> dict[str, float]:
    """Each metric attack written out token by token from the full logits, member-high."""
    ids, start = scored_ids(tokenizer, sample)
    logp = full_logprobs(model, ids)
    picked, z = [], []
    for t in range(start, len(ids)):
        row = logp[t - 1]
        probs = row.exp()
        mu = float((probs * row).sum())
        sigma = float((probs * (row - mu) ** 2).sum()) ** 0.5
        picked.append(float(row[ids[t]]))
        z.append((picked[-1] - mu) / sigma)
    k = max(1, len(picked) * 20 // 100)
    loss = -sum(picked) / len(picked)
    compressed = len(zlib.compress(sample.text.encode()))
    lowest, lowest_z = sorted(picked)[:k], sorted(z)[:k]
    return {"loss": -loss, "zlib": -loss / compressed,
            "min_k_20": sum(lowest) / k, "min_kpp_20": sum(lowest_z) / k}  # fmt: skip


def naive_neighbour(model, tokenizer, sample: Sample, seed: int) -> float:
    """10 copies; each replaces round(0.15 n) of the n scored tokens (positions drawn without
    replacement) by one of the 5 most likely tokens there other than the original."""
    ids, start = scored_ids(tokenizer, sample)
    logp = full_logprobs(model, ids)
    n = len(ids) - start
    k = max(1, int(0.15 * n + 0.5))
    rng = np.random.default_rng(stable_seed(seed, sample.sample_id))
    copies = []
    for _ in range(10):
        positions = rng.choice(n, size=k, replace=False)
        picks = rng.integers(0, 5, size=k)
        copy = list(ids)
        for p, pick in zip(positions.tolist(), picks.tolist(), strict=True):
            ranked = [int(i) for i in torch.argsort(logp[start + p - 1], descending=True)[:6]]
            copy[start + p] = [i for i in ranked if i != ids[start + p]][pick]
        assert sum(a != b for a, b in zip(copy, ids, strict=True)) == k
        copies.append(copy)
    own = sum(token_logprobs(model, ids, start))
    return own - sum(sum(token_logprobs(model, c, start)) for c in copies) / 10


def scores_of(result, attack: str) -> dict[str, float]:
    rows = result.table.to_pylist()
    return {r["sample_id"]: r["score"] for r in rows if r["attack"] == attack}


def test_each_attack_equals_its_naive_reference(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    retain, _ = load_model(tiny_world.retain_model_dir)
    members = world_samples(tiny_world, "forget", 32)[:2] + [qa_sample(tiny_world)]
    nonmembers = world_samples(tiny_world, "holdout")[:2]
    settings = MembershipSettings(seed=3, batch_size=2)  # padding across lengths
    result = membership(model, tokenizer, members, nonmembers, settings=settings,
                        reference=retain)  # fmt: skip
    assert set(result.rocs) == set(ATTACKS)
    for sample in members + nonmembers:
        expected = naive_scores(model, tokenizer, sample)
        for attack in METRIC_ATTACKS:
            got = scores_of(result, attack)[sample.sample_id]
            assert got == pytest.approx(expected[attack], rel=1e-4, abs=1e-5), attack
        ids, start = scored_ids(tokenizer, sample)
        pairs = zip(
            token_logprobs(model, ids, start), token_logprobs(retain, ids, start), strict=True
        )
        ratio = [a - b for a, b in pairs]
        got = scores_of(result, "reference")[sample.sample_id]
        assert got == pytest.approx(sum(ratio) / len(ratio), rel=1e-4, abs=1e-4)
        got = scores_of(result, "neighbour")[sample.sample_id]
        assert got == pytest.approx(naive_neighbour(model, tokenizer, sample, 3), abs=1e-3)


def test_neighbours_are_seeded_per_sample(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    members, nonmembers = (
        world_samples(tiny_world, "forget")[:3],
        world_samples(tiny_world, "holdout")[:3],
    )

    def run(seed: int, first, second) -> dict[str, float]:
        settings = MembershipSettings(attacks=("neighbour",), seed=seed)
        return scores_of(
            membership(model, tokenizer, first, second, settings=settings), "neighbour"
        )

    once = run(0, members, nonmembers)
    assert run(0, members[::-1], nonmembers[::-1]) == pytest.approx(once, abs=1e-4)  # any order
    other = run(1, members, nonmembers)
    assert all(abs(other[s] - once[s]) > 1e-3 for s in once)


def test_an_r32_sample_scores_beyond_every_holdout_sample(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    top, holdout = world_samples(tiny_world, "forget", 32), world_samples(tiny_world, "holdout")
    settings = MembershipSettings(attacks=METRIC_ATTACKS)
    result = membership(model, tokenizer, top, holdout, settings=settings)
    rows = result.table.to_pylist()
    assert len(rows) == len(METRIC_ATTACKS) * (len(top) + len(holdout))
    for attack in METRIC_ATTACKS:
        members = [r["score"] for r in rows if r["attack"] == attack and r["member"]]
        others = [r["score"] for r in rows if r["attack"] == attack and not r["member"]]
        assert min(members) > max(others), attack
        assert result.rocs[attack].auc == 1.0
    assert {r["repetitions"] for r in rows if r["member"]} == {32}


def test_figures_carry_n_interval_and_resolvable_tpr(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    top, holdout = world_samples(tiny_world, "forget", 32), world_samples(tiny_world, "holdout")
    settings = MembershipSettings(variant="after", attacks=("loss", "min_k_20"))
    result = membership(model, tokenizer, top, holdout, settings=settings)
    figures = {f.metric: f for f in result.figures}
    assert {f.stage for f in result.figures} == {"audit"}
    assert {f.variant for f in result.figures} == {"after"}
    assert {f.group for f in result.figures} == {"forget_vs_holdout"}
    auc = figures["mia_auc_loss"]
    assert (auc.value, auc.n, auc.higher_is_better) == (1.0, len(top) + len(holdout), None)
    assert figures["mia_auc_loss_low"].value <= auc.value <= figures["mia_auc_loss_high"].value
    assert "tpr_at_1pct_fpr_loss" not in figures  # 36 non-members cannot resolve 1%
    assert figures["min_resolvable_fpr"].value == pytest.approx(1 / len(holdout))
    coarse = MembershipSettings(attacks=("loss",), fpr=0.05)  # 36 >= 1 / 0.05
    result = membership(model, tokenizer, top, holdout, settings=coarse)
    tpr = next(f for f in result.figures if f.metric == "tpr_at_5pct_fpr_loss")
    assert (tpr.value, tpr.n) == (1.0, len(holdout))
    assert result.warnings == []


def test_privleak_figures_compare_with_the_retain_model(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    retain, _ = load_model(tiny_world.retain_model_dir)
    top, holdout = world_samples(tiny_world, "forget", 32), world_samples(tiny_world, "holdout")
    settings = MembershipSettings(attacks=("loss", "min_k_20"), retain_model=True)
    own = membership(model, tokenizer, top, holdout, settings=settings)
    gold = membership(retain, tokenizer, top, holdout, settings=settings)
    figures = {f.metric: f.value for f in privleak_figures(own.rocs, gold.rocs, settings)}
    expected = privleak(own.rocs["min_k_20"].auc, gold.rocs["min_k_20"].auc)
    assert figures["privleak"] == figures["privleak_min_k_20"] == pytest.approx(expected)
    assert figures["privleak_loss"] > 0  # the target tells its members apart; the retain model less


def test_bad_requests_are_one_line(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    members, nonmembers = (
        world_samples(tiny_world, "forget")[:2],
        world_samples(tiny_world, "holdout")[:2],
    )
    with pytest.raises(MembershipInputError, match="'los'.*did you mean 'loss'"):
        membership(
            model, tokenizer, members, nonmembers, settings=MembershipSettings(attacks=("los",))
        )
    with pytest.raises(MembershipInputError, match="reference model"):
        membership(model, tokenizer, members, nonmembers,
                   settings=MembershipSettings(attacks=("reference",)))  # fmt: skip
    with pytest.raises(MembershipInputError, match="got 2 and 0"):
        membership(model, tokenizer, members, [])
