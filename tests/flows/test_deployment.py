"""A run triggered on a served deployment (what the Prefect UI form and schedules do)."""

from __future__ import annotations

import asyncio

from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.runner import Runner

from flows.presets import demo_config
from flows.unlearning_pipeline import unlearning_pipeline


async def serve_one_run(parameters: dict) -> object:
    """Register the flow like `forgetflow serve`, trigger a run, execute it in a fresh process."""
    runner = Runner(name="forgetflow-test")
    await runner.add_flow(unlearning_pipeline, name="served", parameters=parameters)
    flow_run = await run_deployment("unlearning-pipeline/served", timeout=0)
    await runner.execute_flow_run(flow_run.id)
    async with get_client() as client:
        return (await client.read_flow_run(flow_run.id)).state


def test_a_served_deployment_run_completes(prefect_harness, session_home, quick_utility) -> None:
    config = demo_config(str(session_home)).model_copy(update={"name": "served-run"})
    cheap = {"mia_attacks": ["loss"], "carlini": None, "stresses": []}  # not what this tests
    audit = config.audit.model_copy(update=cheap)
    utility = config.utility.model_copy(update=quick_utility)
    config = config.model_copy(update={"audit": audit, "utility": utility})
    state = asyncio.run(serve_one_run({"config": config.model_dump(mode="json")}))
    assert state.is_completed(), state.message
