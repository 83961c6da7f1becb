"""UnSTAR's writers on a vLLM server: the settings that ask for one, the error a missing vLLM
environment gives, and SmolLM2-135M-Instruct's rationales through vLLM against HF (fp32,
greedy, 64 quiz-fact prompts).

The agreement test needs `.venv-vllm` (`make vllm`) and the pulled model (`make test-real`);
without them it skips, which fails under CI=true.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import ValidationError

from forgetflow.antisamples.unstar.model_writers import ModelRationaleWriter, chat_prompt
from forgetflow.antisamples.unstar.request import FactRequest
from forgetflow.antisamples.unstar.writers import (
    RoleSettings,
    WriterError,
    WriterSettings,
    open_writers,
)
from forgetflow.generation.hf import HFBackend
from forgetflow.generation.server import VLLM_PYTHON_ENV, group_alive, port_is_free, vllm_python
from forgetflow.scenarios.quiz_facts.question_templates import QUIZ_GENERATOR
from forgetflow.scenarios.quiz_facts.rationale_items import rationale_items

PROMPTS = 64
AGREEMENT = 0.95
TEMPLATE = WriterSettings(generator="template")


def test_vllm_is_a_backend_for_a_named_model_only() -> None:
    served = WriterSettings(generator="model", model="smollm2-135m-instruct", backend="vllm")
    assert served.backend == "vllm" and WriterSettings().backend == "hf"
    for generator in ("target", "template"):
        with pytest.raises(ValidationError, match=f"the generator is {generator}: set generator"):
            WriterSettings(generator=generator, backend="vllm")
    with pytest.raises(ValidationError, match="give `model` exactly"):
        WriterSettings(generator="model", backend="vllm")
    with pytest.raises(ValidationError, match="backend"):
        WriterSettings(generator="model", model="m", backend="tgi")


def test_a_missing_vllm_environment_is_one_writer_error(
    tiny_world, tiny_model, tmp_path, monkeypatch
) -> None:
    model, tokenizer = tiny_model
    monkeypatch.setenv(VLLM_PYTHON_ENV, str(tmp_path / "no-venv" / "bin" / "python"))
    served = WriterSettings(generator="model", model=str(tiny_world.model_dir), backend="vllm")
    roles = RoleSettings(questions=TEMPLATE, answers=TEMPLATE, rationales=served)
    request = FactRequest(tuple(t for t, _, _ in rationale_items(2)), QUIZ_GENERATOR)
    with pytest.raises(WriterError) as caught:
        with open_writers(roles, request, model, tokenizer, log_dir=tmp_path):
            pass
    message = str(caught.value)
    assert "\n" not in message and "unstar's rationales" in message
    assert "no vLLM environment" in message and "make vllm" in message


def first_difference(a: Sequence[object], b: Sequence[object]) -> int:
    """The first index where the sequences differ (the shorter one's length if one extends the
    other)."""
    pairs = zip(a, b, strict=False)
    return next((i for i, (x, y) in enumerate(pairs) if x != y), min(len(a), len(b)))


def differences(hf: list[str], vllm: list[str], tokenizer) -> list[str]:  # noqa: ANN001
    """One line per differing rationale: where its characters and its tokens first diverge."""
    lines = []
    for index, (a, b) in enumerate(zip(hf, vllm, strict=True)):
        if a != b:
            ids_a, ids_b = (tokenizer(t, add_special_tokens=False)["input_ids"] for t in (a, b))
            char, token = first_difference(a, b), first_difference(ids_a, ids_b)
            lines.append(f"#{index}: char {char}, token {token}: hf {a[char:char + 40]!r} / "
                         f"vllm {b[char:char + 40]!r}")  # fmt: skip
    return lines


@pytest.mark.vllm
@pytest.mark.real_model
def test_smollm2_rationales_through_vllm_match_hf(smollm2, real_home: Path, tmp_path) -> None:
    from forgetflow.models.names import resolve_model

    if not vllm_python().is_file():
        pytest.skip(f"no vLLM environment at {vllm_python()}: run `make vllm`")
    model, tokenizer = smollm2
    items = rationale_items(PROMPTS)
    hf_writer = ModelRationaleWriter(HFBackend(model, tokenizer), "hf", chat_prompt(tokenizer))
    hf = hf_writer.rationales(items, seed=0)
    directory = resolve_model("smollm2-135m-instruct", real_home)
    served = WriterSettings(generator="model", model=str(directory), backend="vllm")
    roles = RoleSettings(questions=TEMPLATE, answers=TEMPLATE, rationales=served)
    request = FactRequest(tuple(t for t, _, _ in items), QUIZ_GENERATOR)
    with open_writers(roles, request, model, tokenizer, log_dir=tmp_path) as writers:
        vllm = writers.rationales.rationales(items, seed=0)
        server = writers.rationales.backend._server
    assert not group_alive(server.pgid) and port_is_free(server.port)  # stopped on exit
    assert all(hf) and len(vllm) == PROMPTS
    diverged = differences(hf, vllm, tokenizer)
    agree = PROMPTS - len(diverged)
    assert agree >= AGREEMENT * PROMPTS, (
        f"{agree}/{PROMPTS} rationales agree; first divergences:\n" + "\n".join(diverged)
    )
