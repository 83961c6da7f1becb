from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any, get_args

import pyarrow.parquet as pq
import pytest
import torch
from pydantic import BaseModel, ValidationError

from forgetflow.lm.logprobs import sequence_logprob, sequence_nll
from forgetflow.lm.tokens import TokenBatch, encode, pad_right
from forgetflow.records import Sample
from forgetflow.unlearning.methods import grad_ascent, idk_dpo, npo, simnpo
from forgetflow.unlearning.methods.batch import (
    ANTISAMPLES,
    FORGET_LOGP,
    NEEDS,
    PREFERRED,
    PREFERRED_LOGP,
    RETAIN_TOPK,
    Reference,
    TopK,
    UnlearningBatch,
    rest_logmass,
)
from forgetflow.unlearning.methods.registry import (
    METHODS,
    UnknownMethodError,
    get_method,
    method_config,
    method_config_union,
    names_of,
)
from forgetflow.unlearning.methods.terms import MissingNeedError

ALL = sorted(names_of("loss"))
SEED = 0


# --- building batches ---------------------------------------------------------------------------


def samples(world, split: str, n: int) -> list[Sample]:
    table = pq.read_table(world.splits[split]).slice(0, n).to_pylist()
    return [Sample(row["sample_id"], split, row["text"]) for row in table]


def tokens(tokenizer, texts: list[str]) -> TokenBatch:
    return pad_right(encode(tokenizer, texts), tokenizer.pad_token_id)


def config_of(name: str, **fields: Any) -> BaseModel:
    """`name`'s config with those of `fields` it has (e.g. retain_weight)."""
    known = get_method(name).config.model_fields
    return method_config({"name": name, **{k: v for k, v in fields.items() if k in known}})


@torch.no_grad()
def naive_topk(model, batch: TokenBatch, k: int) -> TopK:
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
    values, indices = logprobs.topk(k, dim=-1)
    return TopK(values, indices, rest_logmass(logprobs, indices))


@torch.no_grad()
def reference_of(model, batch: UnlearningBatch, needs: frozenset[str], k: int) -> Reference:
    """What the loop caches: the unmodified model's values, only those `needs` names."""
    return Reference(
        forget_logp=sequence_logprob(model, batch.forget) if FORGET_LOGP in needs else None,
        preferred_logp=(
            sequence_logprob(model, batch.preferred) if PREFERRED_LOGP in needs else None
        ),
        retain_topk=naive_topk(model, batch.retain, k) if RETAIN_TOPK in needs else None,
    )


def full_batch(
    world,
    model,
    tokenizer,
    config: BaseModel,
    forget: int = 4,
    weights: torch.Tensor | None = None,
    k: int | None = None,
) -> UnlearningBatch:
    """Forget, retain and anti-sample rows, the preferred rows and the reference `config` needs."""
    method = get_method(config.name)  # type: ignore[attr-defined]
    needs = method.needs(config)
    rows = samples(world, "forget", forget)
    preferred = None
    if PREFERRED in needs:
        assert method.preferred is not None
        preferred = tokens(tokenizer, method.preferred(config, rows, SEED, tokenizer))
    batch = UnlearningBatch(
        forget=tokens(tokenizer, [s.text for s in rows]),
        retain=tokens(tokenizer, [s.text for s in samples(world, "retain", 3)]),
        auxiliary={ANTISAMPLES: tokens(tokenizer, [s.text for s in samples(world, "holdout", 2)])},
        preferred=preferred,
        weights=weights,
    )
    k = k or model.config.vocab_size
    return dataclasses.replace(batch, reference=reference_of(model, batch, needs, k))


def loss_of(config: BaseModel, model, batch: UnlearningBatch):
    return get_method(config.name).loss(config, model, batch)  # type: ignore[attr-defined]


# --- every method -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_one_step_changes_weights_and_forgets(name, tiny_world, tiny_model) -> None:
    base, tokenizer = tiny_model
    model = copy.deepcopy(base)
    config = config_of(name, retain_weight=0.0, antisample_weight=0.0)
    batch = full_batch(tiny_world, model, tokenizer, config)

    def progress() -> float:  # what the step must raise
        with torch.no_grad():
            if name == "idk_dpo":
                chosen = sequence_logprob(model, batch.preferred)
                return (chosen - sequence_logprob(model, batch.forget)).mean().item()
            return sequence_nll(model, batch.forget).mean().item()

    before, weights = progress(), {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    out = loss_of(config, model, batch)
    out.loss.backward()
    optimizer.step()
    assert any(not torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    assert progress() > before
    assert {"loss", "forget_nll", "forget_loss"} <= set(out.logs)
    assert all(isinstance(v, float) for v in out.logs.values())


@pytest.mark.parametrize("name", ALL)
def test_antisample_term_adds_its_weighted_mean_nll(name, tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    batch = full_batch(tiny_world, model, tokenizer, config_of(name))
    with torch.no_grad():
        without = loss_of(config_of(name, antisample_weight=0.0), model, batch)
        with_ = loss_of(config_of(name, antisample_weight=0.7), model, batch)
        anti = sequence_nll(model, batch.antisamples).mean().item()
    assert "antisample_nll" not in without.logs
    assert with_.logs["antisample_nll"] == pytest.approx(anti, rel=1e-5)
    assert with_.loss.item() - without.loss.item() == pytest.approx(0.7 * anti, abs=1e-4)


@pytest.mark.parametrize("name", ALL)
def test_weights_give_the_weighted_mean_of_the_forget_term(name, tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    config = config_of(name, retain_weight=0.0, antisample_weight=0.0)
    with torch.no_grad():
        two = full_batch(tiny_world, model, tokenizer, config, 2, torch.tensor([2.0, 0.0]))
        first = full_batch(tiny_world, model, tokenizer, config, 1)
        plain = full_batch(tiny_world, model, tokenizer, config, 2, torch.tensor([1.0, 1.0]))
        unweighted = full_batch(tiny_world, model, tokenizer, config, 2)
        weighted = loss_of(config, model, two).logs["forget_loss"]
        assert weighted == pytest.approx(loss_of(config, model, first).logs["forget_loss"], 1e-5)
        ones = loss_of(config, model, plain).logs["forget_loss"]
        assert ones == pytest.approx(loss_of(config, model, unweighted).logs["forget_loss"], 1e-6)


def test_registry_and_method_config_union_agree() -> None:
    union = set(get_args(get_args(method_config_union())[0]))
    assert union == {method.config for method in METHODS.values()}
    for name, method in METHODS.items():
        config = method_config({"name": name})
        assert isinstance(config, method.config) and config.name == name  # type: ignore[attr-defined]
        if method.kind == "procedure":
            continue
        assert method.needs(config) <= NEEDS
        assert (PREFERRED in method.needs(config)) == (method.preferred is not None)


def test_method_config_rejects_unknown_names_and_fields() -> None:
    with pytest.raises(UnknownMethodError, match="registered: .*'grad_ascent'.*'simnpo'"):
        method_config({"name": "gradient_magic"})
    with pytest.raises(UnknownMethodError, match="registered"):
        method_config({"beta": 0.1})
    with pytest.raises(ValidationError, match="forget_weight"):
        method_config({"name": "npo", "forget_weight": 1.0})
    with pytest.raises(ValidationError):
        method_config({"name": "npo", "beta": 0.0})
    assert method_config({"name": "npo", "beta": 0.2}) == npo.NPOConfig(beta=0.2)


# --- formulas -----------------------------------------------------------------------------------


def test_grad_ascent_is_minus_the_mean_forget_nll(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    forget = tokens(tokenizer, [s.text for s in samples(tiny_world, "forget", 3)])
    with torch.no_grad():
        out = grad_ascent.loss(grad_ascent.GradAscentConfig(), model, UnlearningBatch(forget))
        expected = -sequence_nll(model, forget).mean().item()
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)
    assert out.logs["forget_nll"] == pytest.approx(-expected, rel=1e-5)


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def shifted_reference(model, batch: TokenBatch, shift: list[float]) -> torch.Tensor:
    with torch.no_grad():
        return sequence_logprob(model, batch) + torch.tensor(shift)


def test_npo_is_its_formula(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    forget = tokens(tokenizer, [s.text for s in samples(tiny_world, "forget", 3)])
    reference = Reference(forget_logp=shifted_reference(model, forget, [0.5, -2.0, 7.0]))
    config, beta = npo.NPOConfig(beta=0.3), 0.3
    with torch.no_grad():
        out = npo.loss(config, model, UnlearningBatch(forget, reference=reference))
        logp = sequence_logprob(model, forget)
    ratios = (logp - reference.forget_logp).tolist()
    expected = -(2 / beta) * sum(log_sigmoid(-beta * r) for r in ratios) / 3
    assert out.loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("beta", [0.1, 1.0])
def test_npo_at_the_reference_is_2_log_2_over_beta(beta, tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    config = npo.NPOConfig(beta=beta, retain_weight=0.0, antisample_weight=0.0)
    batch = full_batch(tiny_world, model, tokenizer, config)
    with torch.no_grad():
        out = npo.loss(config, model, batch)
    assert out.loss.item() == pytest.approx(2 / beta * math.log(2), rel=1e-5)


def test_npo_without_its_reference_names_what_is_missing(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    forget = tokens(tokenizer, [s.text for s in samples(tiny_world, "forget", 2)])
    with pytest.raises(MissingNeedError, match=FORGET_LOGP):
        npo.loss(npo.NPOConfig(), model, UnlearningBatch(forget))


def test_simnpo_is_its_formula(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    forget = tokens(tokenizer, [s.text for s in samples(tiny_world, "forget", 3)])
    beta, gamma = 2.5, 0.4
    config = simnpo.SimNPOConfig(beta=beta, gamma=gamma)
    with torch.no_grad():
        out = simnpo.loss(config, model, UnlearningBatch(forget))
        logp = sequence_logprob(model, forget).tolist()
    lengths = [int(m.sum()) - 1 for m in forget.attention_mask]
    terms = [log_sigmoid(-beta / n * lp - gamma) for lp, n in zip(logp, lengths, strict=True)]
    assert out.loss.item() == pytest.approx(-(2 / beta) * sum(terms) / 3, rel=1e-5, abs=1e-5)


def test_idk_dpo_is_its_formula(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    rows = samples(tiny_world, "forget", 3)
    config, beta = idk_dpo.IdkDPOConfig(beta=0.2), 0.2
    forget = tokens(tokenizer, [s.text for s in rows])
    preferred = tokens(tokenizer, idk_dpo.preferred(config, rows, SEED, tokenizer))
    reference = Reference(
        forget_logp=shifted_reference(model, forget, [1.0, -3.0, 0.0]),
        preferred_logp=shifted_reference(model, preferred, [-0.5, 2.0, 4.0]),
    )
    batch = UnlearningBatch(forget, preferred=preferred, reference=reference)
    with torch.no_grad():
        out = idk_dpo.loss(config, model, batch)
        chosen = sequence_logprob(model, preferred) - reference.preferred_logp
        rejected = sequence_logprob(model, forget) - reference.forget_logp
    margins = (chosen - rejected).tolist()
    expected = -(2 / beta) * sum(log_sigmoid(beta * m) for m in margins) / 3
    assert out.loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-5)


def test_retain_nll_term_adds_its_weighted_mean(tiny_world, tiny_model) -> None:
    model, tokenizer = tiny_model
    for name in ("grad_diff", "npo", "simnpo", "idk_dpo"):
        batch = full_batch(tiny_world, model, tokenizer, config_of(name))
        with torch.no_grad():
            off = loss_of(config_of(name, retain_weight=0.0), model, batch)
            on = loss_of(config_of(name, retain_weight=1.5), model, batch)
            retain = sequence_nll(model, batch.retain).mean().item()
        assert on.logs["retain_nll"] == pytest.approx(retain, rel=1e-5)
        assert on.loss.item() - off.loss.item() == pytest.approx(1.5 * retain, abs=1e-4)


# --- the KL retain term -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["grad_diff", "npo"])
def test_kl_to_itself_is_zero_and_grows_when_perturbed(name, tiny_world, tiny_model) -> None:
    base, tokenizer = tiny_model
    config = config_of(name, retain_loss="kl", kl_top_k=base.config.vocab_size)
    assert RETAIN_TOPK in get_method(name).needs(config)
    assert RETAIN_TOPK not in get_method(name).needs(config_of(name))
    batch = full_batch(tiny_world, base, tokenizer, config)
    with torch.no_grad():
        assert abs(loss_of(config, base, batch).logs["retain_kl"]) < 1e-6
        model, noise = copy.deepcopy(base), torch.Generator().manual_seed(SEED)
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=noise))
        assert loss_of(config, model, batch).logs["retain_kl"] > 1e-4


# --- idk_dpo's preferred texts ------------------------------------------------------------------


def test_preferred_follows_the_prompt_and_is_seeded(tiny_model) -> None:
    _, tokenizer = tiny_model
    config = idk_dpo.IdkDPOConfig()
    rows = [
        Sample("a", "forget", "Name: Norma Fisher\nEmail: tammy76@example.com\n"),
        Sample("b", "forget", "Mary Ann Smith", prompt="Question: who wrote it?\nAnswer:"),
        Sample("c", "forget", "one two three four five six seven eight nine ten"),
    ] * 4
    first = idk_dpo.preferred(config, rows, 3, tokenizer)
    assert first == idk_dpo.preferred(config, rows, 3, tokenizer)
    assert first != idk_dpo.preferred(config, rows, 4, tokenizer)
    parts = idk_dpo.prompt_parts(tokenizer, rows)
    for text, row in zip(first, rows, strict=True):
        if row.sample_id == "a":
            assert text.startswith("Name: Norma Fisher\n") and "Email" not in text
        elif row.sample_id == "b":
            assert text.startswith("Question: who wrote it?\nAnswer: ") and "Smith" not in text
        else:  # one line: the rule's fallback tokens, always leaving one token out
            assert text.startswith("one two three") and not text.startswith(row.text)
    for text, part in zip(first, parts, strict=True):
        assert any(text == part + r for r in idk_dpo.REFUSALS)
