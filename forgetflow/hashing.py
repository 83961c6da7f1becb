"""The one content-hash scheme: sha256 of a file's bytes, of a folder's files, or of a value's
canonical JSON; and seeds derived from text the same way on every machine and process
(`hash()` of a str changes with PYTHONHASHSEED, sha256 does not)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in blocks (model weights can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dir_sha256(path: Path) -> str:
    """sha256 of a folder: every file's relative path and content hash, in sorted order."""
    return content_sha256(
        [
            [p.relative_to(path).as_posix(), file_sha256(p)]
            for p in sorted(p for p in path.rglob("*") if p.is_file())
        ]  # fmt: skip
    )


def content_sha256(value: object) -> str:
    """sha256 of a JSON-serializable value's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def content_key(value: object) -> str:
    """A short content key (16 hex digits) for a folder name: what built it, hashed."""
    return content_sha256(value)[:16]


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from the parts' text, the same on every machine and in every process."""
    digest = hashlib.sha256("\0".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")
