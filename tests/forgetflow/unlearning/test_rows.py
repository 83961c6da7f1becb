"""Row sets: auxiliary sets tied to forget samples by source_id, any number of rows per sample,
every one of them in the batch of its forget sample; the checkpoint fingerprint covers them; the
split of a batch into micro-batches and the seeded cycler that draws them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from forgetflow.lm.tokens import encode
from forgetflow.records import Sample
from forgetflow.unlearning.batches import Batches
from forgetflow.unlearning.checkpoints import fingerprint
from forgetflow.unlearning.config import TrainingConfig
from forgetflow.unlearning.inputs import LoopInputs
from forgetflow.unlearning.methods.batch import ANTISAMPLES
from forgetflow.unlearning.methods.grad_ascent import GradAscentConfig
from forgetflow.unlearning.rows import Cycler, RowSetError, row_sets, split

FORGET = [Sample(f"f{i}", "forget", text) for i, text in
          enumerate(["Name: Ann Lee\nCity: Lyon", "Name: Bo Chan\nCity: Oslo",
                     "Name: Cy Diaz\nCity: Rome"])]  # fmt: skip
# f0 has two anti-samples, f1 none, f2 one
ANTI = [Sample("a0", "antisample", "Name: Ann Lee\nCity: Paris", source_id="f0"),
        Sample("a2", "antisample", "Name: Cy Diaz\nCity: Bern", source_id="f2"),
        Sample("b0", "antisample", "Name: Ann Lee\nCity: Quito", source_id="f0")]  # fmt: skip


def test_a_batch_holds_every_auxiliary_row_of_its_forget_rows(tiny_model) -> None:
    _, tokenizer = tiny_model
    rows = row_sets(tokenizer, FORGET, [], {ANTISAMPLES: ANTI, "empty": []})
    assert set(rows.auxiliary) == {ANTISAMPLES}  # an empty set is left out
    assert rows.auxiliary[ANTISAMPLES].owners == [0, 2, 0]
    batch = Batches(rows, tokenizer.pad_token_id, None).batch([2, 1, 0], [], None)
    anti = batch.antisamples
    assert anti is not None and batch.auxiliary[ANTISAMPLES] is anti
    expected = encode(tokenizer, [ANTI[1].text, ANTI[0].text, ANTI[2].text])  # f2's, then f0's
    for row, ids in enumerate(expected):
        assert anti.input_ids[row, : len(ids)].tolist() == ids
    assert int(anti.attention_mask.sum()) == sum(len(ids) for ids in expected)
    alone = Batches(rows, tokenizer.pad_token_id, None).batch([1], [], None)
    assert alone.antisamples is None and dict(alone.auxiliary) == {}


def test_an_auxiliary_row_tied_to_no_forget_sample_is_one_clear_error(tiny_model) -> None:
    stray = Sample("x", "antisample", "Name: Nobody", source_id="f9")
    with pytest.raises(RowSetError, match=r"^auxiliary set 'antisamples': row 'x' has source_id "
                       r"'f9', which is no forget sample; tie every row") as error:  # fmt: skip
        row_sets(tiny_model[1], FORGET, [], {ANTISAMPLES: [*ANTI, stray]})
    assert "\n" not in str(error.value)


def test_the_checkpoint_fingerprint_covers_the_auxiliary_sets(tiny_model) -> None:
    tokenizer = tiny_model[1]

    def of(anti: list[Sample]) -> str:
        rows = row_sets(tokenizer, FORGET, [], {ANTISAMPLES: anti})
        inputs = LoopInputs(GradAscentConfig(), TrainingConfig(), 0, FORGET,
                            auxiliary={ANTISAMPLES: anti})  # fmt: skip
        return fingerprint(SimpleNamespace(inputs=inputs, rows=rows, world=1))  # type: ignore[arg-type]

    assert of(ANTI) == of(list(ANTI))
    assert of(ANTI) != of(ANTI[:2])  # one anti-sample fewer
    assert of(ANTI) != of([ANTI[0], ANTI[2], ANTI[1]])  # tied otherwise


def test_split_and_cycler() -> None:
    assert split(list(range(5)), 2) == [[0, 1, 2], [3, 4]]
    assert split([1], 2) == [[1], []]
    cycler = Cycler(5, 2, seed=0)
    drawn = [i for _ in range(5) for i in cycler.next()]  # two epochs
    assert sorted(drawn) == sorted(list(range(5)) * 2)
    state = cycler.state()
    ahead = [cycler.next() for _ in range(3)]
    cycler.load(state)
    assert [cycler.next() for _ in range(3)] == ahead
