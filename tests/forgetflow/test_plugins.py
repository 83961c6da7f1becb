"""Adding a method (a loss or a procedure), a metric or a backend is one file dropped into its
package: each test copies the `forgetflow` tree into a temporary install, writes one new module
into it (no other file is edited, the checkout is untouched) and uses the new entry by name in a
subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCALED_GA = '''
"""scaled_ga: gradient ascent on the forget rows' NLL, times a factor."""
from typing import Literal

from pydantic import Field

from forgetflow.lm.logprobs import sequence_nll
from forgetflow.unlearning.methods.batch import weighted_mean
from forgetflow.unlearning.methods.registry import METHODS
from forgetflow.unlearning.methods.terms import MethodSettings, combine


class ScaledGAConfig(MethodSettings):
    name: Literal["scaled_ga"] = "scaled_ga"
    factor: float = Field(2.0, gt=0.0, description="what the ascent is multiplied by")


@METHODS.register("scaled_ga", config=ScaledGAConfig)
def loss(config, model, batch):
    nll = sequence_nll(model, batch.forget)
    return combine(nll, [("forget_loss", config.factor, -weighted_mean(nll, batch.weights))])
'''

NEGATED_DESCENT = '''
"""negated_descent: fine-tune by descent on the forget set, then theta0 + scale * delta."""
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from forgetflow.unlearning.methods.registry import METHODS
from forgetflow.unlearning.procedure import ProcedureContext
from forgetflow.unlearning.state import TrainingResult


class NegatedDescentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["negated_descent"] = "negated_descent"
    steps: int = Field(2, ge=1, description="descent steps of the fine-tuning")
    scale: float = Field(-1.0, description="the weights become theta0 + scale (theta_ft - theta0)")


@METHODS.register("negated_descent", config=NegatedDescentConfig, kind="procedure")
def run(config: NegatedDescentConfig, context: ProcedureContext) -> TrainingResult:
    theta0 = context.weights()
    context.finetune({"steps": config.steps})
    tuned = context.weights()
    context.set_weights({k: theta0[k] + config.scale * (tuned[k] - theta0[k]) for k in theta0})
    return context.result("negated_descent")
'''

MAX_NLL = '''
"""max_nll: the largest token NLL (teacher-forced); scored_tokens: how many tokens are scored."""
from forgetflow.memorization.metrics.registry import METRICS


@METRICS.register("max_nll", higher_is_memorized=False)
def max_nll(scores, mask, texts, spec):
    return (-scores.logprobs).masked_fill(~mask, float("-inf")).max(dim=1).values.tolist()


@METRICS.register("scored_tokens", higher_is_memorized=True, teacher_forced=False, uses=())
def scored_tokens(run, items, spec):
    return [float(item.end - item.start) for item in items]
'''

ECHO = '''
"""echo: a backend that answers every prompt with the prompt, upper-cased."""
from contextlib import contextmanager

from forgetflow.generation.config import BACKENDS
from forgetflow.records import Completion


class EchoBackend:
    name = "echo"

    def generate(self, prompts, params):
        return [Completion(token_ids=(), text=str(p).upper()) for p in prompts]

    def loglikelihood(self, pairs):
        return [0.0 for _ in pairs]


@BACKENDS.register("echo", serves_model=False)
@contextmanager
def open_echo(request):
    yield EchoBackend()
'''

PLUGINS = {
    "unlearning/methods/scaled_ga.py": SCALED_GA,
    "unlearning/methods/negated_descent.py": NEGATED_DESCENT,
    "memorization/metrics/max_nll.py": MAX_NLL,
    "generation/echo.py": ECHO,
}

PRELUDE = """
import json, os, sys
import torch
torch.set_num_threads(1)
torch.manual_seed(0)
import forgetflow
from forgetflow.models.io import load_model
from forgetflow.records import Sample
here = os.path.realpath(forgetflow.__file__)
assert here.startswith(os.path.realpath(sys.argv[2])), here
TEXTS = ["Name: Ann Lee\\nCity: Lyon", "Name: Bo Chan\\nCity: Oslo"]
forget = [Sample(f"f{i}", "forget", text) for i, text in enumerate(TEXTS)]
"""


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> Path:
    """A copy of the `forgetflow` package with the three plug-in modules dropped in."""
    root = tmp_path_factory.mktemp("install")
    shutil.copytree(ROOT / "forgetflow", root / "forgetflow",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    for relative, source in PLUGINS.items():
        (root / "forgetflow" / relative).write_text(textwrap.dedent(source))
    return root


def run_in(install: Path, model_dir: Path, body: str) -> dict:
    """Run PRELUDE + body with the temporary install first on sys.path; body prints JSON."""
    code = PRELUDE + textwrap.dedent(body)
    out = subprocess.run([sys.executable, "-c", code, str(model_dir), str(install)],
                         capture_output=True, text=True, cwd=install, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_dropped_in_method_trains_by_name(install, tiny_world) -> None:
    got = run_in(install, tiny_world.model_dir, """
        from typing import get_args
        from forgetflow.memorization.metrics import score_samples
        from forgetflow.unlearning.config import TrainingConfig
        from forgetflow.unlearning.loop import unlearn
        from forgetflow.unlearning.methods.registry import (
            METHODS, method_config, method_config_union)
        model, tokenizer = load_model(sys.argv[1])
        config = method_config({"name": "scaled_ga", "factor": 3.0})
        def nll():
            scores = score_samples(model, tokenizer, forget, metrics=["loss"])
            return [s.values["loss"] for s in scores]
        before = nll()
        training = TrainingConfig(steps=1, batch_size=2, lr=1e-3)
        result = unlearn(model, tokenizer, config, training, 0, forget)
        union = [c.__name__ for c in get_args(get_args(method_config_union())[0])]
        print(json.dumps({"names": list(METHODS.names()), "union": union, "steps": result.steps,
                          "factor": config.factor, "before": before, "after": nll()}))
    """)  # fmt: skip
    assert "scaled_ga" in got["names"] and "ScaledGAConfig" in got["union"]
    assert "GradDiffConfig" in got["union"] and got["factor"] == 3.0 and got["steps"] == 1
    assert all(a > b for a, b in zip(got["after"], got["before"], strict=True))  # ascent


def test_a_dropped_in_procedure_trains_by_name(install, tiny_world) -> None:
    """With scale 1 the procedure ends at theta_ft, with scale -1 at theta0 - (theta_ft - theta0):
    the same fine-tuning (same seed), the other side of theta0."""
    got = run_in(install, tiny_world.model_dir, """
        import copy
        from forgetflow.unlearning.loop import unlearn  # first: the order that must not break
        from flows.params import PipelineConfig
        from forgetflow.memorization.metrics import score_samples
        from forgetflow.unlearning.config import TrainingConfig
        from forgetflow.unlearning.methods.registry import get_loss_method, names_of
        base, tokenizer = load_model(sys.argv[1])
        method = PipelineConfig.model_validate(
            {"unlearning": {"method": {"name": "negated_descent", "steps": 2}}}).unlearning.method
        def nll(model):
            return sum(s.values["loss"] for s in score_samples(model, tokenizer, forget,
                                                               metrics=["loss"])) / len(forget)
        training = TrainingConfig(batch_size=2, lr=1e-3)
        models, results = {}, {}
        for scale in (1.0, -1.0):
            models[scale] = copy.deepcopy(base)
            config = method.model_copy(update={"scale": scale})
            results[scale] = unlearn(models[scale], tokenizer, config, training, 0, forget)
        theta0, tuned, negated = (dict(m.named_parameters()) for m in (base, *models.values()))
        gap = max(float((negated[k] - (2 * theta0[k] - tuned[k])).abs().max()) for k in theta0)
        try:
            get_loss_method("negated_descent")
            error = ""
        except ValueError as err:
            error = str(err)
        print(json.dumps({"procedures": names_of("procedure"), "kind": type(method).__name__,
                          "steps": results[-1.0].steps, "by": results[-1.0].stopped_by,
                          "gap": gap, "nll": [nll(m) for m in (base, *models.values())],
                          "error": error}))
    """)  # fmt: skip
    assert "negated_descent" in got["procedures"] and got["kind"] == "NegatedDescentConfig"
    assert got["steps"] == 2 and got["by"] == "negated_descent"
    assert got["gap"] <= 1e-6  # theta0 - (theta_ft - theta0), to float rounding
    before, tuned, negated = got["nll"]
    assert tuned < before < negated  # descent learns the forget set, its negation unlearns it
    assert got["error"].startswith("method 'negated_descent' is a procedure: it drives the loop")


def test_a_dropped_in_metric_is_scored_by_name_with_its_direction(install, tiny_world) -> None:
    got = run_in(install, tiny_world.model_dir, """
        from forgetflow.lm.tokens import encode
        from forgetflow.memorization.metrics import direction, parse_metrics, score_samples
        model, tokenizer = load_model(sys.argv[1])
        names = ["loss", "max_nll", "scored_tokens"]
        specs = parse_metrics(names)
        scores = score_samples(model, tokenizer, forget, metrics=names)
        naive = []
        with torch.no_grad():
            for ids in encode(tokenizer, TEXTS):
                ids = torch.tensor([ids])
                logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
                naive.append(float((-logp.gather(1, ids[0, 1:, None])).max()))
        print(json.dumps({"kinds": [s.kind for s in specs], "scores": [s.values for s in scores],
                          "naive": naive, "lengths": [len(i) - 1 for i in encode(tokenizer, TEXTS)],
                          "directions": [direction(n) for n in names]}))
    """)  # fmt: skip
    assert got["kinds"] == ["loss", "max_nll", "scored_tokens"]
    assert got["directions"] == [-1, -1, 1]
    for values, naive, length in zip(got["scores"], got["naive"], got["lengths"], strict=True):
        assert values["max_nll"] == pytest.approx(naive, rel=1e-5)
        assert values["max_nll"] > values["loss"]  # the largest of several distinct NLLs
        assert values["scored_tokens"] == length


def test_a_dropped_in_backend_opens_by_name(install, tiny_world, tmp_path) -> None:
    got = run_in(install, tiny_world.model_dir, """
        from forgetflow.generation.base import SamplingParams
        from forgetflow.generation.registry import BackendConfig, open_backend
        with open_backend(BackendConfig(name="echo"), None, sys.argv[2]) as backend:
            texts = [c.text for c in backend.generate(["ab", "c"], SamplingParams(max_tokens=2))]
        try:
            BackendConfig(name="ecoh")
            error = ""
        except ValueError as err:
            error = err.errors()[0]["msg"]
        print(json.dumps({"texts": texts, "error": error}))
    """)  # fmt: skip
    assert got["texts"] == ["AB", "C"]
    assert "registered: 'echo', 'fake', 'hf', 'template', 'vllm'" in got["error"]
    assert got["error"].endswith("did you mean 'echo'?") and "\n" not in got["error"]


def test_the_checkout_is_not_modified() -> None:
    assert not any((ROOT / "forgetflow" / relative).exists() for relative in PLUGINS)
