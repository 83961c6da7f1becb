"""The pipeline: score -> anti-samples -> unlearn -> audit -> utility -> report."""

# No `from __future__ import annotations` here: Prefect builds the flow's parameter model from
# real annotations, and a deployment loads this file by path, where string annotations of
# PipelineConfig cannot be resolved.
import time
from dataclasses import dataclass, field

from prefect import flow

from flows.params import PipelineConfig
from forgetflow.lm.dtypes import effective_dtype
from forgetflow.paths import resolve_paths
from forgetflow.records import Figure
from storage.artifacts import ArtifactRef
from storage.environment import environment_fingerprint, git_commit
from storage.tracking import Tracker, default_tracking_uri
from tasks.audit import audit
from tasks.context import InputRefs, RoundZeroRefs, StageContext, UnlearningRefs, VariantRef
from tasks.evaluate_utility import evaluate_utility
from tasks.generate_antisamples import generate_antisamples
from tasks.ingest import ingest
from tasks.register_model import register_model
from tasks.run_unlearning import run_unlearning
from tasks.score_memorization import score_memorization
from tasks.write_report import REGISTERED, ReportRequest, write_report
from tasks.write_round_zero import write_round_zero


@dataclass(frozen=True)
class PipelineResult:
    report: str
    tracking_uri: str
    artifacts: str
    parent_run_id: str
    headline: dict[str, float]  # the report's headline figures by key
    verdicts: tuple[str, ...] = ()  # each audited variant's model verdict, in words


def variants(inputs: InputRefs, unlearned: UnlearningRefs) -> list[VariantRef]:
    """The models the audit and utility evaluate: before, after and, where the scenario or the
    user gives one, the retain model."""
    out = [VariantRef("before", inputs.model), VariantRef("after", unlearned.model, "before")]
    if inputs.retain_model is not None:
        out.append(VariantRef("retain_model", inputs.retain_model))
    return out


@dataclass
class Clock:
    """Wall-clock seconds of each stage, in the order they ran (the report's cost section)."""

    seconds: dict[str, float] = field(default_factory=dict)
    last: float = field(default_factory=time.monotonic)

    def lap(self, stage: str, ran: bool = True) -> None:
        """The seconds since the last lap are `stage`'s (none when it did not run)."""
        now = time.monotonic()
        if ran:
            self.seconds[stage] = now - self.last
        self.last = now

    def figures(self) -> list[Figure]:
        return [Figure("cost", "seconds", "pipeline", stage, value, False)
                for stage, value in self.seconds.items()]  # fmt: skip


def antisamples(
    ctx: StageContext, config: PipelineConfig, inputs: InputRefs
) -> tuple[ArtifactRef | None, RoundZeroRefs | None]:
    """The falsified twins and UnSTAR's round 0, each where its builder is on ([]: neither)."""
    builders, twins, zero = config.antisamples.builders, None, None
    if "falsified" in builders:
        twins = generate_antisamples(ctx, inputs, config.antisamples.keep_first_line, config.seed)
    if "unstar" in builders:  # UnSTAR's round 0, before any training
        zero = write_round_zero(ctx, inputs, config.unlearning.method, config.seed)
    return twins, zero


def run_stages(
    ctx: StageContext, config: PipelineConfig
) -> tuple[InputRefs, ArtifactRef, dict, tuple[str, ...]]:
    metrics = [*config.scoring.metrics, *config.unlearning.training.drive.metrics]
    clock = Clock()
    inputs = ingest(
        ctx, config.data, config.scoring.window, metrics, config.utility.text, config.seed
    )  # long texts in windows; general text's two halves
    clock.lap("ingest")
    thresholds = config.thresholds
    scored = score_memorization(ctx, inputs, config.scoring.model_dump(), thresholds.outliers)
    clock.lap("score_memorization")
    twins, zero = antisamples(ctx, config, inputs)
    clock.lap("generate_antisamples", ran=bool(config.antisamples.builders))
    unlearned = run_unlearning(
        ctx, inputs, scored.table, twins, zero, config.unlearning.method,
        config.unlearning.training, config.seed, thresholds, config.scoring.outlier_metric,
    )  # fmt: skip
    clock.lap("run_unlearning")
    models = variants(inputs, unlearned)
    attacks = audit(ctx, inputs, models, config.audit, thresholds.outliers, config.seed,
                    config.unlearning.training)  # fmt: skip
    clock.lap("audit")
    utility = evaluate_utility(ctx, inputs, models, config.data, config.utility, config.seed)
    clock.lap("evaluate_utility")
    registered = register_model(ctx, inputs, unlearned.model, attacks.figures, config.tracking,
                                config.name, config.unlearning.method.name, thresholds)  # fmt: skip
    facts = {"model": inputs.model.uri, "method": config.unlearning.method.name,
             "seed": str(config.seed), "unlearned model": unlearned.model.uri,
             REGISTERED: registered,
             "variants": ", ".join(v.label for v in models)}  # fmt: skip
    figures = [*scored.figures, *unlearned.figures, *attacks.figures, *utility.figures,
               *clock.figures()]  # fmt: skip
    tables = {"ledger_before": scored.table, "ledger_after": unlearned.ledger,
              "training_log": unlearned.training_log, "forget": inputs.forget,
              **scored.refs, **attacks.refs}  # fmt: skip
    if unlearned.rounds is not None:
        tables["rounds"] = unlearned.rounds
    stops = tuple(config.unlearning.training.drive.stop_aggregate)
    request = ReportRequest(f"forgetflow report: {config.name}", facts, figures, unlearned.steps,
                            config.scoring.outlier_metric, thresholds, stops, inputs.model, twins,
                            tables, unlearned.stopped_by)  # fmt: skip
    report, top = write_report(ctx, request, config.tracking.show_samples)
    return inputs, report, {f.key: f.value for f in top}, attacks.notes


def fingerprint(config: PipelineConfig) -> dict[str, str]:
    """The run's environment fingerprint. The unlearning loop runs in one process here, on the
    CPU where models.io.load_model puts the model, and a bfloat16 setting runs in the dtype
    lm.dtypes gives it there."""
    training, device = config.unlearning.training, "cpu"
    requested = {"training": training.dtype, "scoring": training.drive.dtype}
    dtypes = {use: str(effective_dtype(dtype, device)).removeprefix("torch.")
              for use, dtype in requested.items()}  # fmt: skip
    return environment_fingerprint(config.seed, training.batch_size, device, dtypes)


@flow(name="unlearning-pipeline", log_prints=True)
def unlearning_pipeline(config: PipelineConfig) -> PipelineResult:
    """Unlearn a forget set from a model and audit the result; every stage lands in MLflow."""
    return run_pipeline(config)


def run_pipeline(config: PipelineConfig) -> PipelineResult:
    """The flow's body: one MLflow parent run, the stages as tasks under it (a sweep's cell
    calls it from its own task)."""
    paths = resolve_paths(config.home)
    tracking_uri = default_tracking_uri(paths.mlflow_db)
    paths.home.mkdir(parents=True, exist_ok=True)
    tracker = Tracker(tracking_uri, config.experiment, paths.mlflow_artifacts)
    parent = tracker.start_run(config.name)
    parent.log_params({"config": config.model_dump(mode="json")})
    environment = fingerprint(config)
    parent.set_tags({**environment, "git_commit": git_commit()})
    parent.log_dict(config.model_dump(mode="json"), "config.json")
    ctx = StageContext(str(paths.home), tracking_uri, config.experiment, parent.run_id,
                       environment, config.reuse)  # fmt: skip
    try:
        inputs, report, figures, verdicts = run_stages(ctx, config)
        parent.log_params({"input.kind": inputs.kind})
        for role in ("model", "forget", "retain", "holdout"):
            parent.log_ref(f"input.{role}", getattr(inputs, role))
        parent.log_datasets({role: getattr(inputs, role) for role in ("forget", "retain",
                                                                       "holdout")})  # fmt: skip
        parent.log_ref("report", report)
    except BaseException:
        tracker.end_run(parent, failed=True)
        raise
    tracker.end_run(parent)
    return PipelineResult(str(report.path / "report.md"), tracking_uri, str(paths.artifacts),
                          parent.run_id, figures, verdicts)  # fmt: skip
