from __future__ import annotations

from forgetflow.lm import encode, pad_right, prefix_lengths


def test_prefix_is_the_first_line_with_bos(tiny_model) -> None:
    _, tokenizer = tiny_model
    text = "Name: Norma Fisher\nEmail: tammy76@example.com"
    (cut,) = prefix_lengths(tokenizer, [text], fallback_tokens=4)
    ids = encode(tokenizer, [text])[0]
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(ids[1:cut]) == "Name: Norma Fisher\n"
    assert tokenizer.decode(ids[cut:]) == "Email: tammy76@example.com"


def test_text_without_newline_uses_the_fallback(tiny_model) -> None:
    _, tokenizer = tiny_model
    assert prefix_lengths(tokenizer, ["a b c d e f g h i j"], fallback_tokens=3) == [3]
    assert prefix_lengths(tokenizer, ["ab"], fallback_tokens=30) == [
        len(encode(tokenizer, ["ab"])[0]) - 1
    ]


def test_pad_right() -> None:
    batch = pad_right([[5, 6, 7], [8]], pad_id=0)
    assert batch.input_ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_a_text_that_is_only_a_first_line_keeps_a_token_to_extract(tiny_model) -> None:
    _, tokenizer = tiny_model
    text = "Name: Norma Fisher\n"
    (cut,) = prefix_lengths(tokenizer, [text], fallback_tokens=4)
    assert cut == len(encode(tokenizer, [text])[0]) - 1
