"""The artifact store: content-addressed, atomically written, verified on every read."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from forgetflow.atomic import publish
from forgetflow.hashing import dir_sha256, file_sha256
from forgetflow.schemas import FILE_KINDS, table_schema


class ArtifactError(RuntimeError):
    """Base class of every artifact problem."""


class MissingArtifactError(ArtifactError):
    """The artifact's file or directory is not where its ref says."""


class SchemaMismatchError(ArtifactError):
    """A table does not match the declared schema of its kind."""


class IntegrityError(ArtifactError):
    """An artifact's content no longer matches the sha256 recorded in its ref."""


NAME_KEY, VERSION_KEY = b"forgetflow.schema", b"forgetflow.schema_version"  # in each Parquet
ENVIRONMENT_KEY = b"forgetflow.environment"  # the writing run's fingerprint, JSON
ENVIRONMENT_FILE = "forgetflow-environment.json"  # the same in a directory artifact


def stale_message(uri: str, name: str, version: int) -> str:
    """One line: an artifact written under another schema version than this forgetflow reads."""
    return (
        f"{uri} is a {name} artifact of schema version {version}; this forgetflow reads version "
        f"{table_schema(name).version}: re-run the pipeline to rebuild it"
    )


def written_version(table: pa.Table, name: str) -> int | None:
    """The schema version a Parquet file was written under, when it says so and is a `name`."""
    metadata = table.schema.metadata or {}
    if metadata.get(NAME_KEY, name.encode()) != name.encode() or VERSION_KEY not in metadata:
        return None
    return int(metadata[VERSION_KEY])


@dataclass(frozen=True)
class ArtifactRef:
    """What tasks pass around: where an artifact lives, what it is and its content hash."""

    uri: str
    schema_name: str
    schema_version: int
    num_rows: int
    sha256: str

    @property
    def path(self) -> Path:
        return Path(unquote(urlparse(self.uri).path))

    def to_dict(self) -> dict[str, str | int]:
        return asdict(self)


def conform(table: pa.Table, schema_name: str) -> pa.Table:
    """The table in its kind's exact schema (column order and types), or a SchemaMismatchError."""
    declared = table_schema(schema_name)
    expected = declared.schema
    if set(table.column_names) != set(expected.names):
        raise SchemaMismatchError(
            f"{schema_name} v{declared.version} wants columns {expected.names}, "
            f"got {table.column_names}"
        )
    for field in expected:
        if table.column(field.name).null_count:
            raise SchemaMismatchError(f"{schema_name}: column {field.name!r} has nulls")
    try:
        return table.select(expected.names).cast(expected)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise SchemaMismatchError(f"{schema_name}: {err}") from err


class ArtifactStore:
    """Artifacts under `root`, each at a path derived from its kind and content hash."""

    def __init__(self, root: Path, environment: Mapping[str, str] | None = None) -> None:
        self.root = Path(root)
        self.environment = dict(environment or {})  # the writing run's fingerprint

    def _publish(self, staged: Path, kind: str, digest: str, suffix: str) -> Path:
        final = self.root / kind / f"{digest}{suffix}"
        publish(staged, final)  # the same content may be stored already
        return final

    def _staging(self) -> Path:
        (self.root / ".staging").mkdir(parents=True, exist_ok=True)
        return self.root / ".staging"

    def put_table(self, table: pa.Table, schema_name: str) -> ArtifactRef:
        table = conform(table, schema_name)
        version = str(table_schema(schema_name).version).encode()
        environment = json.dumps(self.environment, sort_keys=True).encode()
        table = table.replace_schema_metadata(
            {NAME_KEY: schema_name.encode(), VERSION_KEY: version, ENVIRONMENT_KEY: environment}
        )
        handle, name = tempfile.mkstemp(suffix=".parquet", dir=self._staging())
        os.close(handle)
        staged = Path(name)
        pq.write_table(table, staged)
        digest = file_sha256(staged)
        final = self._publish(staged, schema_name, digest, ".parquet")
        version = table_schema(schema_name).version
        return ArtifactRef(final.as_uri(), schema_name, version, table.num_rows, digest)

    def get_table(self, ref: ArtifactRef) -> pa.Table:
        declared = table_schema(ref.schema_name)
        if ref.schema_version != declared.version:
            raise SchemaMismatchError(stale_message(ref.uri, ref.schema_name, ref.schema_version))
        self._check_hash(ref, file_sha256)
        table = pq.read_table(ref.path)
        written = written_version(table, ref.schema_name)
        if written is not None and written != declared.version:
            raise SchemaMismatchError(stale_message(ref.uri, ref.schema_name, written))
        if not table.schema.equals(declared.schema):
            raise SchemaMismatchError(
                f"{ref.uri} does not match {ref.schema_name} v{declared.version}: "
                f"got columns {table.schema.names}, want {declared.schema.names}"
            )
        if table.num_rows != ref.num_rows:
            raise IntegrityError(f"{ref.uri}: {table.num_rows} rows, ref says {ref.num_rows}")
        return table

    def stage_dir(self) -> Path:
        """An empty folder to write a directory artifact into before `put_dir`."""
        return Path(tempfile.mkdtemp(dir=self._staging()))

    def put_dir(self, staged: Path, kind: str) -> ArtifactRef:
        if kind not in FILE_KINDS:
            raise KeyError(f"unknown artifact kind {kind!r}; known: {sorted(FILE_KINDS)}")
        if self.environment:
            (staged / ENVIRONMENT_FILE).write_text(json.dumps(self.environment, indent=2))
        digest = dir_sha256(staged)
        files = sum(1 for p in staged.rglob("*") if p.is_file())
        final = self._publish(staged, kind, digest, "")
        return ArtifactRef(final.as_uri(), kind, FILE_KINDS[kind], files, digest)

    def ref_dir(self, path: Path, kind: str) -> ArtifactRef:
        """A ref to a directory that stays where it is (a user's model): hashed, not copied."""
        if kind not in FILE_KINDS:
            raise KeyError(f"unknown artifact kind {kind!r}; known: {sorted(FILE_KINDS)}")
        if not path.is_dir():
            raise MissingArtifactError(f"{path} is not a directory")
        files = sum(1 for p in path.rglob("*") if p.is_file())
        return ArtifactRef(path.resolve().as_uri(), kind, FILE_KINDS[kind], files, dir_sha256(path))

    def get_dir(self, ref: ArtifactRef) -> Path:
        """The verified directory of a directory artifact (a model, a report)."""
        if FILE_KINDS.get(ref.schema_name) != ref.schema_version:
            raise SchemaMismatchError(
                f"{ref.uri}: unknown kind {ref.schema_name} v{ref.schema_version}"
            )
        self._check_hash(ref, dir_sha256)
        return ref.path

    def _check_hash(self, ref: ArtifactRef, digest_of) -> None:
        if not ref.path.exists():
            raise MissingArtifactError(f"artifact {ref.uri} ({ref.schema_name}) is missing")
        actual = digest_of(ref.path)
        if actual != ref.sha256:
            raise IntegrityError(
                f"artifact {ref.uri} was modified: sha256 {actual[:12]}..., "
                f"ref says {ref.sha256[:12]}..."
            )

    def verify(self, ref: ArtifactRef) -> None:
        """Raise unless the artifact is present, unmodified and of its declared schema."""
        if ref.schema_name in FILE_KINDS:
            self.get_dir(ref)
        else:
            self.get_table(ref)
