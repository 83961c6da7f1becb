from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch

from forgetflow.lm import logprobs
from forgetflow.lm.logprobs import greedy_hits, pair_logprobs, split_head
from forgetflow.lm.prompts import QA_STYLE, prefix_lengths, prompt_texts, qa_prompt, question_style
from forgetflow.lm.tokens import encode, pad_right, pair_ids
from forgetflow.records import Sample


def texts(*items: str) -> list[Sample]:
    return [Sample(f"s{i}", "forget", text) for i, text in enumerate(items)]


def test_prefix_is_the_first_line_with_bos(tiny_model) -> None:
    _, tokenizer = tiny_model
    text = "Name: Norma Fisher\nEmail: tammy76@example.com"
    (cut,) = prefix_lengths(tokenizer, texts(text), fallback_tokens=4)
    ids = encode(tokenizer, [text])[0]
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(ids[1:cut]) == "Name: Norma Fisher\n"
    assert tokenizer.decode(ids[cut:]) == "Email: tammy76@example.com"


def test_text_without_newline_uses_the_fallback(tiny_model) -> None:
    _, tokenizer = tiny_model
    assert prefix_lengths(tokenizer, texts("a b c d e f g h i j"), fallback_tokens=3) == [3]
    assert prefix_lengths(tokenizer, texts("ab"), fallback_tokens=30) == [
        len(encode(tokenizer, ["ab"])[0]) - 1
    ]


def test_a_qa_sample_is_asked_its_question_and_continues_with_its_answer(tiny_model) -> None:
    _, tokenizer = tiny_model
    qa = Sample("q", "forget", " Brightline", prompt=qa_prompt("Where does Ana Ruiz work?"))
    assert qa.prompt == "Question: Where does Ana Ruiz work?\nAnswer:"
    (cut,) = prefix_lengths(tokenizer, [qa], fallback_tokens=1)
    ids = encode(tokenizer, [qa.prompt + qa.text])[0]
    assert tokenizer.decode(ids[1:cut]) == qa.prompt
    assert tokenizer.decode(ids[cut:]) == " Brightline"
    record = "Name: Norma Fisher\nEmail: x"
    one_line = "one two three four five"
    got = prompt_texts(tokenizer, [qa, *texts(record, one_line)], fallback_tokens=3)
    assert got[:2] == [qa.prompt, "Name: Norma Fisher\n"]
    (fallback,) = prefix_lengths(tokenizer, texts(one_line), fallback_tokens=3)
    assert got[2] == tokenizer.decode(encode(tokenizer, [one_line])[0][:fallback],
                                      skip_special_tokens=True)  # fmt: skip


def test_a_window_is_asked_its_context_and_first_line(tiny_model) -> None:
    _, tokenizer = tiny_model
    record = "Name: Norma Fisher\nEmail: tammy76@example.com\nPhone: 459.638.2421"
    cut = record.index("mmy76")  # mid-line, as a window may begin
    window = Sample("r#1", "forget", record[cut:], prompt=record[:cut], source_id="r")
    one_line = Sample("r#2", "forget", " a b c d e f", prompt="Name: x", source_id="r")
    assert window.is_window and not Sample("q", "forget", " B", prompt="Q?").is_window
    asked = prompt_texts(tokenizer, [window, one_line], fallback_tokens=3)
    assert asked[0] == "Name: Norma Fisher\nEmail: tammy76@example.com\n"
    context = len(encode(tokenizer, [one_line.prompt])[0])
    assert prefix_lengths(tokenizer, [one_line], fallback_tokens=3) == [context + 3]
    assert asked[1].startswith(one_line.prompt) and len(asked[1]) > len(one_line.prompt)


def test_pad_right() -> None:
    batch = pad_right([[5, 6, 7], [8]], pad_id=0)
    assert batch.input_ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_a_text_that_is_only_a_first_line_keeps_a_token_to_extract(tiny_model) -> None:
    _, tokenizer = tiny_model
    text = "Name: Norma Fisher\n"
    (cut,) = prefix_lengths(tokenizer, texts(text), fallback_tokens=4)
    assert cut == len(encode(tokenizer, [text])[0]) - 1


def test_greedy_hits_equal_the_full_logits_argmax(tiny_world, tiny_model, monkeypatch) -> None:
    model, tokenizer = tiny_model
    texts = [r["text"] for r in tiny_world.table("items").to_pylist()[:5]]
    batch = pad_right(encode(tokenizer, texts), tokenizer.pad_token_id)
    scored = batch.scored()
    with torch.no_grad():
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    expected = logits[:, :-1].argmax(dim=-1).eq(batch.input_ids[:, 1:]) & scored
    assert split_head(model) is not None
    monkeypatch.setattr(logprobs, "HEAD_CHUNK", 7)  # chunks that split rows
    assert torch.equal(greedy_hits(model, batch.input_ids, scored), expected)
    only_first = scored.clone()
    only_first[1:] = False
    assert torch.equal(greedy_hits(model, batch.input_ids, only_first), expected & only_first)


def test_greedy_hits_through_a_lora_wrapper_and_without_a_linear_head(tiny_world, tiny_model):
    from peft import LoraConfig, get_peft_model

    model, tokenizer = tiny_model
    texts = [r["text"] for r in tiny_world.table("items").to_pylist()[:3]]
    batch = pad_right(encode(tokenizer, texts), tokenizer.pad_token_id)
    scored = batch.scored()
    wrapped = get_peft_model(copy.deepcopy(model), LoraConfig(r=2, target_modules=["c_attn"]))
    torch.nn.init.normal_(
        wrapped.base_model.model.transformer.h[0].attn.c_attn.lora_B["default"].weight
    )
    with torch.no_grad():
        logits = wrapped(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    expected = logits[:, :-1].argmax(dim=-1).eq(batch.input_ids[:, 1:]) & scored
    assert split_head(wrapped) is not None  # the inner model's body and head
    assert torch.equal(greedy_hits(wrapped, batch.input_ids, scored), expected)
    headed = get_peft_model(copy.deepcopy(model), LoraConfig(r=2, target_modules=["lm_head"]))
    assert split_head(headed) is None  # a LoRA head: the whole forward
    with torch.no_grad():
        logits = headed(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    expected = logits[:, :-1].argmax(dim=-1).eq(batch.input_ids[:, 1:]) & scored
    assert torch.equal(greedy_hits(headed, batch.input_ids, scored), expected)


def test_pair_logprobs_equal_the_full_logits_sum_through_either_head_path(
    tiny_model, monkeypatch
) -> None:
    from peft import LoraConfig, get_peft_model

    model, tokenizer = tiny_model
    pairs = [("Question: Where was Ann born?\nAnswer:", " Calvinland"),
             ("Name: Bo", "\nEmail: bo@example.org\nPhone: 555 0100"), ("A", " b")]  # fmt: skip
    sequences, tails = pair_ids(tokenizer, pairs)

    def naive(scorer) -> list[float]:
        sums = []
        for ids, tail in zip(sequences, tails, strict=True):
            with torch.no_grad():
                logits = scorer(input_ids=torch.tensor([ids])).logits[0, :-1]
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            picked = logprobs[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
            sums.append(float(picked[len(ids) - 1 - tail :].sum()))
        return sums

    monkeypatch.setattr(logprobs, "HEAD_CHUNK", 3)  # chunks that split rows
    headed = get_peft_model(copy.deepcopy(model), LoraConfig(r=2, target_modules=["lm_head"]))
    for scorer in (model, headed):  # the head at the answer only; the whole forward
        got = pair_logprobs(scorer, tokenizer, pairs, batch_size=2)
        assert [count for _, count in got] == tails
        assert [s for s, _ in got] == pytest.approx(naive(scorer), abs=1e-4)


class TemplatedTokenizer:
    """A tokenizer with a chat template: wraps the user's turn."""

    chat_template = "{{ messages }}"

    def apply_chat_template(self, conversation: list[dict[str, str]], **options: bool) -> str:
        assert options == {"tokenize": False, "add_generation_prompt": True}
        return f"<user>{conversation[0]['content']}</user><assistant>"


def test_an_instruct_model_is_asked_in_its_chat_template_and_answers_without_a_space() -> None:
    chat = question_style(TemplatedTokenizer())
    assert chat.prompt("Capital of France?") == "<user>Capital of France?</user><assistant>"
    assert chat.answer("Lyon. It is.") == "Lyon. It is."
    plain = question_style(SimpleNamespace(chat_template=None))
    assert plain is QA_STYLE and plain.prompt("Capital?") == qa_prompt("Capital?")
    assert plain.answer("Lyon") == " Lyon"
