"""The one staged write: whole or nothing, for files and folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from forgetflow.atomic import staged_dir, staged_file, write_text


class Boom(RuntimeError):
    pass


def test_a_file_appears_whole_and_a_failed_write_leaves_the_old_one(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "table.txt"
    write_text(out, "first")
    with pytest.raises(Boom), staged_file(out) as staging:
        staging.write_text("half")
        raise Boom
    assert out.read_text() == "first"
    assert sorted(p.name for p in out.parent.iterdir()) == ["table.txt"]


def test_a_folder_is_kept_when_one_of_the_same_content_exists(tmp_path: Path) -> None:
    final = tmp_path / "world"
    with staged_dir(final) as staging:
        (staging / "a").write_text("winner")
    with staged_dir(final) as staging:  # a concurrent build that finished second
        (staging / "a").write_text("loser")
    assert (final / "a").read_text() == "winner"
    assert [p.name for p in tmp_path.iterdir()] == ["world"]


def test_a_folder_is_swapped_in_whole_or_not_at_all(tmp_path: Path) -> None:
    final = tmp_path / "last"
    with staged_dir(final, replace=True) as staging:
        (staging / "state").write_text("step 1")
    with pytest.raises(Boom), staged_dir(final, replace=True) as staging:
        (staging / "state").write_text("step 2, half")
        raise Boom
    assert (final / "state").read_text() == "step 1"
    with staged_dir(final, replace=True) as staging:
        (staging / "state").write_text("step 2")
    assert (final / "state").read_text() == "step 2"
    assert [p.name for p in tmp_path.iterdir()] == ["last"]
