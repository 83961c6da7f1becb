"""The pipeline presets: the YAML files in flows/deployments/ (package data) are their one source.
`forgetflow demo` loads one of them, and prefect.yaml is rendered from them."""

from __future__ import annotations

from importlib import metadata, resources

import yaml

from flows.params import PipelineConfig, WorldSource, load_config
from forgetflow.generation.config import BackendConfig
from forgetflow.scenarios.world.build import world_config

PRESETS = "deployments"  # the presets' folder inside the `flows` package
DEMO = "demo-tiny"
EXAMPLE = ".example"  # `<name>.example.yaml`: a config to copy and edit, not a deployment
ENTRYPOINT = "flows/unlearning_pipeline.py:unlearning_pipeline"
WORK_POOL = "forgetflow"
HEADER = """\
# Rendered by `forgetflow deployments render` from flows/deployments/*.yaml: edit a preset there,
# then render again (a test fails while this file is stale). Deploy with `prefect deploy --all`
# against a work pool named forgetflow (FORGETFLOW_REPO: the checkout), or serve one preset
# without a work pool: `forgetflow serve --config flows/deployments/demo-tiny.yaml`.
"""


class PresetError(ValueError):
    """A preset name with no YAML file in flows/deployments/."""


def preset_names() -> list[str]:
    """Every preset's name (its file name without `.yaml`), examples included."""
    folder = resources.files("flows").joinpath(PRESETS)
    files = [entry.name for entry in folder.iterdir() if entry.name.endswith(".yaml")]
    return sorted(name.removesuffix(".yaml") for name in files)


def deployable_presets() -> list[str]:
    """The presets that become Prefect deployments: all but the examples."""
    return [name for name in preset_names() if not name.endswith(EXAMPLE)]


def load_preset(name: str) -> PipelineConfig:
    """A preset's PipelineConfig, read from the installed package's flows/deployments/."""
    if name not in preset_names():
        raise PresetError(f"no preset {name!r}; presets: {', '.join(preset_names())}")
    with resources.as_file(resources.files("flows").joinpath(PRESETS, f"{name}.yaml")) as path:
        return load_config(path)


def demo_config(home: str | None = None, size: str = "tiny", backend: str = "hf") -> PipelineConfig:
    """The demo preset (demo-tiny.yaml) with forgetflow's folder, the world's size and the
    audit's backend overridden; the YAML's values stand where an override matches them."""
    config = load_preset(DEMO)
    if not isinstance(config.data, WorldSource):
        raise PresetError(f"the {DEMO} preset must use the built-in world, not {config.data.kind}")
    updates: dict[str, object] = {} if home is None else {"home": home}
    if size != config.data.world.size:
        world = world_config(size, seed=config.data.world.seed)
        updates |= {"name": f"demo-{size}", "data": WorldSource(world=world)}
    if backend != config.audit.generator.name:
        generator = BackendConfig(name=backend)
        updates["audit"] = config.audit.model_copy(update={"generator": generator})
    return config.model_copy(update=updates)


def deployment(name: str) -> dict[str, object]:
    """One prefect.yaml deployment: the pipeline with a preset's config as its parameters."""
    config = load_preset(name)
    return {
        "name": name,
        "description": f"The unlearning pipeline with the {name} preset "
        f"(flows/deployments/{name}.yaml).",
        "entrypoint": ENTRYPOINT,
        "work_pool": {"name": WORK_POOL},
        "parameters": {"config": config.model_dump(mode="json", exclude_unset=True)},
    }


def render_prefect_yaml() -> str:
    """prefect.yaml's text: one deployment per deployable preset."""
    spec = {
        "name": "forgetflow",
        "prefect-version": metadata.version("prefect"),
        "pull": [{"prefect.deployments.steps.set_working_directory": {
            "directory": "{{ $FORGETFLOW_REPO }}"}}],
        "deployments": [deployment(name) for name in deployable_presets()],
    }  # fmt: skip
    return HEADER + yaml.safe_dump(spec, sort_keys=False, width=100)
