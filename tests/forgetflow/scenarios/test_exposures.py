from __future__ import annotations

from collections import Counter

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from forgetflow.scenarios.exposures import (
    FINAL_LR_SHARE,
    GROUP_BATCHES,
    REPETITION_CYCLE,
    cycle_repetitions,
    exposure_schedule,
    length_grouped_batches,
    lr_factor,
    rotate_wordings,
    train_on_schedule,
)


def test_repetitions_cycle_through_the_buckets() -> None:
    reps = cycle_repetitions(13)
    assert reps[:6] == list(REPETITION_CYCLE) and reps[6:12] == list(REPETITION_CYCLE)
    assert Counter(cycle_repetitions(12)) == {r: 2 for r in REPETITION_CYCLE}


def test_the_sampler_shows_each_item_exactly_r_times() -> None:
    reps = [1, 2, 4, 8, 16, 32, 0, 3]
    schedule = exposure_schedule(reps, seed=0)
    assert Counter(schedule) == {i: r for i, r in enumerate(reps) if r}
    assert exposure_schedule(reps, seed=0) == schedule != exposure_schedule(reps, seed=1)


def test_an_items_exposures_rotate_through_its_wordings() -> None:
    # item 0: one wording (sequence 0); item 1: three (1, 2, 3); item 2: two (4, 5)
    schedule = [1, 0, 1, 2, 1, 1, 2, 0, 1, 2, 1, 1]
    rotated = rotate_wordings(schedule, [1, 3, 2])
    assert [w for i, w in zip(schedule, rotated, strict=True) if i == 1] == [1, 2, 3, 1, 2, 3, 1]
    assert [w for i, w in zip(schedule, rotated, strict=True) if i == 2] == [4, 5, 4]
    assert [w for i, w in zip(schedule, rotated, strict=True) if i == 0] == [0, 0]
    assert rotate_wordings(schedule, [1, 1, 1]) == schedule


def test_exposures_are_spread_evenly_over_the_pass() -> None:
    reps = [32, 8, 1, 16, 4] * 20
    schedule = exposure_schedule(reps, seed=0)
    for item in (0, 1, 3):  # every 1/r of the pass holds one exposure of an item seen r times
        r = reps[item]
        where = [k / len(schedule) for k, i in enumerate(schedule) if i == item]
        gaps = [b - a for a, b in zip(where, where[1:], strict=False)]
        assert max(gaps) < 2.0 / r and where[-1] > 1 - 2.0 / r


def test_batches_group_similar_lengths_within_a_window() -> None:
    lengths = [5, 100, 7, 90, 6, 95, 8, 99] * 4
    schedule = list(range(len(lengths)))
    batches = length_grouped_batches(schedule, lengths, batch_size=2)
    assert sorted(i for batch in batches for i in batch) == schedule  # every exposure, once
    assert all(max(lengths[i] for i in b) - min(lengths[i] for i in b) <= 10 for b in batches)
    window = 2 * GROUP_BATCHES
    for k, batch in enumerate(batches):  # nothing leaves its window of the schedule
        assert all(k * 2 // window == i // window for i in batch)


def test_the_learning_rate_warms_up_then_decays() -> None:
    factors = [lr_factor(step, 100) for step in range(100)]
    assert factors[0] == 0.2 and factors[4] == 1.0  # 5 warmup steps
    assert all(b <= a for a, b in zip(factors[4:], factors[5:], strict=False))
    assert factors[-1] >= FINAL_LR_SHARE


def test_one_pass_trains_ceil_exposures_over_batch_steps() -> None:
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=1,
                                       n_head=2))  # fmt: skip
    sequences = [[1, 2, 3, 4], [5, 6, 7], [8, 9, 10, 11, 12]]
    before = [p.clone() for p in model.parameters()]
    seen: list[int] = []
    batches = length_grouped_batches(exposure_schedule([3, 2, 2], 0), [4, 3, 5], 3)
    steps = train_on_schedule(model, sequences, batches, 0, 1e-2,
                              progress=lambda step, total, loss: seen.append(total))  # fmt: skip
    assert steps == 3 and seen == [3, 3, 3]
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_without_a_progress_callback_a_named_bar_shows_the_steps(capsys) -> None:
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=1,
                                       n_head=2))  # fmt: skip
    batches = length_grouped_batches(exposure_schedule([2, 2], 0), [4, 3], 1)
    assert train_on_schedule(model, [[1, 2, 3, 4], [5, 6, 7]], batches, 0, 1e-2,
                             desc="world: target") == 4  # fmt: skip
    assert "world: target: 100%" in capsys.readouterr().err
