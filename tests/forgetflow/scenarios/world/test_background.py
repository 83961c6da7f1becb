from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from forgetflow.scenarios.world import background
from forgetflow.scenarios.world.background import (
    BackgroundSourceError,
    background_passages,
    source_fingerprint,
)

DEBIAN_FILES = {
    "fortunes": background.FORTUNES_DIR / "fortunes",
    "wordnet": background.WORDNET_DIR / "data.noun",
    "gcide": background.GCIDE_FILE,
}


def test_stdlib_is_deterministic_and_seeded() -> None:
    first = background_passages("stdlib", 50, seed=7)
    assert first == background_passages("stdlib", 50, seed=7)
    assert first != background_passages("stdlib", 50, seed=8)
    assert len(first) == len(set(first)) == 50


def test_stdlib_ignores_hash_seed() -> None:
    code = (
        "import json; from forgetflow.scenarios.world.background import background_passages as b, "
        "source_fingerprint as f; print(json.dumps([b('stdlib', 40, seed=3), f('stdlib')]))"
    )
    outputs = []
    for hash_seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]
    assert outputs[0] == [background_passages("stdlib", 40, seed=3), source_fingerprint("stdlib")]


@pytest.mark.parametrize(("min_chars", "max_chars"), [(80, 400), (120, 200)])
def test_length_bounds_and_prose(min_chars: int, max_chars: int) -> None:
    passages = background_passages("stdlib", 100, seed=0, min_chars=min_chars, max_chars=max_chars)
    assert len(passages) == 100
    for text in passages:
        assert min_chars <= len(text) <= max_chars
        assert ">>>" not in text and "\n" not in text and "\t" not in text
        assert "  " not in text and text == text.strip()
        assert len(text.split()) >= background.MIN_WORDS


def test_truncation_prefers_sentence_end() -> None:
    text = "This is the first sentence of some length. " + "word " * 100
    assert background._truncate(text, 20, 100) == "This is the first sentence of some length."
    cut = background._truncate("many " * 100, 20, 100)
    assert len(cut) <= 100 and cut.endswith("many")


def test_prose_filter_rejects_code() -> None:
    assert not background._passage(">>> import os\n>>> os.getcwd()", 1, 400)
    code = "x = {'a': [1, 2], 'b': foo_bar(x) * 3}  # tuple_of_things"
    assert not background._passage(code, 1, 400)
    prose = "The quick brown fox jumps over the lazy dog, and then it rests a while."
    assert background._passage(prose, 1, 400) == prose


def test_unknown_source_lists_sources() -> None:
    with pytest.raises(ValueError, match="stdlib.*fortunes.*wordnet.*gcide"):
        background_passages("wikipedia", 1, seed=0)
    with pytest.raises(ValueError, match="stdlib"):
        source_fingerprint("wikipedia")


def test_too_large_count_names_pool_size() -> None:
    size = len(background.passage_pool("stdlib"))
    with pytest.raises(BackgroundSourceError, match=f"only {size} exist"):
        background_passages("stdlib", size + 1, seed=0)
    assert len(background_passages("stdlib", size, seed=0)) == size


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="count"):
        background_passages("stdlib", -1, seed=0)
    with pytest.raises(ValueError, match="min_chars"):
        background_passages("stdlib", 1, seed=0, min_chars=300, max_chars=200)


def test_stdlib_fingerprint_is_stable_hex() -> None:
    fingerprint = source_fingerprint("stdlib")
    assert fingerprint == source_fingerprint("stdlib")
    assert len(fingerprint) == 64 and int(fingerprint, 16) >= 0


@pytest.mark.parametrize("source", ["fortunes", "wordnet", "gcide"])
def test_missing_debian_source_names_package(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(background, "FORTUNES_DIR", tmp_path / "fortunes")
    monkeypatch.setattr(background, "WORDNET_DIR", tmp_path / "wordnet")
    monkeypatch.setattr(background, "GCIDE_FILE", tmp_path / "gcide.dict.dz")
    package = background.PACKAGES[source]
    with pytest.raises(BackgroundSourceError, match=f"apt-get install {package}"):
        background_passages(source, 1, seed=0)
    with pytest.raises(BackgroundSourceError, match=package):
        source_fingerprint(source)


def test_debian_readers_on_tiny_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The three readers on hand-made files in their real formats, wherever this runs."""
    sentence = "A small and patient animal that lives in the quiet woods of the far northern hills."
    fortunes = tmp_path / "fortunes"
    fortunes.mkdir()
    (fortunes / "wisdom").write_text(f"{sentence}\n\t\t-- Someone\n%\nShort one.\n%\n")
    (fortunes / "wisdom.dat").write_bytes(b"\x00\x01binary index")
    wordnet = tmp_path / "wordnet"
    wordnet.mkdir()
    (wordnet / "data.noun").write_text(
        "  1 This software and database is being provided to you, the LICENSEE, by Princeton\n"
        f'00001740 03 n 01 entity 0 000 | {sentence}; "an example"  \n'
    )
    gcide = tmp_path / "gcide.dict.dz"
    entry = f'Badger \\Badg"er\\, n. [OE. bageard.]\n   {sentence}\n   [1913 Webster]\n'
    licence = "GCIDE is free software; you can redistribute it and modify it as you wish today.\n"
    gcide.write_bytes(gzip.compress(f"{licence}\n{entry}\n".encode()))
    monkeypatch.setattr(background, "FORTUNES_DIR", fortunes)
    monkeypatch.setattr(background, "WORDNET_DIR", wordnet)
    monkeypatch.setattr(background, "GCIDE_FILE", gcide)
    assert background.passage_pool("fortunes") == [f"{sentence} -- Someone"]
    assert background.passage_pool("wordnet") == [f'{sentence}; "an example"']
    assert background.passage_pool("gcide") == [sentence]
    before = source_fingerprint("gcide")
    gcide.write_bytes(gzip.compress(f"{entry}\n".encode()))
    assert source_fingerprint("gcide") != before


@pytest.mark.parametrize("source", ["fortunes", "wordnet", "gcide"])
def test_installed_debian_source(source: str) -> None:
    if not DEBIAN_FILES[source].is_file():
        pytest.skip(
            f"{DEBIAN_FILES[source]} absent: install Debian package {background.PACKAGES[source]}"
        )
    passages = background_passages(source, 30, seed=1)
    assert passages == background_passages(source, 30, seed=1)
    assert all(80 <= len(p) <= 400 and ">>>" not in p for p in passages)
    assert source_fingerprint(source) == source_fingerprint(source)
    assert source_fingerprint(source) != source_fingerprint("stdlib")
