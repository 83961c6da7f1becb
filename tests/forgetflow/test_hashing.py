"""The one content-hash scheme."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from forgetflow.hashing import content_key, content_sha256, dir_sha256, file_sha256, stable_seed


def test_file_and_folder_digests(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "x").write_bytes(b"abc")
    (tmp_path / "d" / "e" / "y").write_bytes(b"")
    assert file_sha256(tmp_path / "d" / "x") == hashlib.sha256(b"abc").hexdigest()
    before = dir_sha256(tmp_path / "d")
    (tmp_path / "d" / "e" / "y").rename(tmp_path / "d" / "y")  # same bytes, another place
    assert dir_sha256(tmp_path / "d") != before


def test_content_keys_ignore_key_order_and_see_every_value() -> None:
    assert content_sha256({"a": 1, "b": [1, 2]}) == content_sha256({"b": [1, 2], "a": 1})
    assert content_sha256({"a": 1}) != content_sha256({"a": "1"})
    assert content_key({"a": 1}) == content_sha256({"a": 1})[:16]


def test_seeds_are_the_same_in_another_process() -> None:
    code = "from forgetflow.hashing import stable_seed; print(stable_seed('x', 3))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert int(other.stdout) == stable_seed("x", 3) != stable_seed("x3")
