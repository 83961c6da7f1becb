"""Background text: general English prose a small from-scratch model learns utility on.

The default source, `stdlib`, is the docstrings of a fixed list of pure-Python standard library
modules, so it ships with Python and a world built from it is byte-identical on every machine
with the same Python version. `fortunes`, `wordnet` and `gcide` read files of Debian packages
and are opt-in: they exist only where those packages are installed.
"""

from __future__ import annotations

import gzip
import importlib
import inspect
import platform
import random
import re
import types
from collections.abc import Iterator
from pathlib import Path

from forgetflow.hashing import content_sha256, file_sha256

SOURCES = ("stdlib", "fortunes", "wordnet", "gcide")
PACKAGES = {"fortunes": "fortunes", "wordnet": "wordnet-base", "gcide": "dict-gcide"}

FORTUNES_DIR = Path("/usr/share/games/fortunes")
WORDNET_DIR = Path("/usr/share/wordnet")
WORDNET_FILES = ("data.adj", "data.adv", "data.noun", "data.verb")
GCIDE_FILE = Path("/usr/share/dictd/gcide.dict.dz")

# Bump when the extraction or filtering rules change: the fingerprint keys a world's content,
# and the same files read under new rules give different passages.
RULES_VERSION = "1"

# Pure-Python modules only: modules whose docstrings come from an optional C accelerator
# (decimal, heapq, datetime, pickle) or that need an optional library (turtle -> tkinter,
# sqlite3, hashlib -> OpenSSL) could differ between builds of the same Python version.
STDLIB_MODULES = (
    "abc", "argparse", "ast", "base64", "calendar", "cmd", "codecs", "collections",
    "colorsys", "configparser", "contextlib", "copy", "csv", "dataclasses", "difflib",
    "doctest", "email", "enum", "fnmatch", "fractions", "ftplib", "functools", "getopt",
    "gettext", "glob", "hmac", "http.client", "imaplib", "inspect", "ipaddress", "json",
    "locale", "logging", "mailbox", "numbers", "optparse", "pathlib", "poplib", "pprint",
    "pydoc", "queue", "random", "sched", "secrets", "shelve", "shlex", "shutil", "smtplib",
    "socketserver", "statistics", "string", "tarfile", "tempfile", "textwrap", "threading",
    "timeit", "tokenize", "trace", "typing", "unittest", "urllib.parse", "uuid", "wave",
    "xml.dom.minidom", "zipfile",
)  # fmt: skip

CODE_CHARS = frozenset("{}[]<>=_\\|@#$%^*`~")
WORD = re.compile(r"^[\"'(]*[A-Za-z][a-z'-]*[.,;:!?\"')]*$")
SENTENCE_END = re.compile(r"[.!?][\"')]?(?= )")
MIN_WORDS = 8
MIN_LETTER_SHARE = 0.75
MIN_WORD_SHARE = 0.8
MAX_CODE_SHARE = 0.01


class BackgroundSourceError(RuntimeError):
    """A background source cannot give what was asked: its files are absent or too few."""


def background_passages(
    source: str, count: int, seed: int, min_chars: int = 80, max_chars: int = 400
) -> list[str]:
    """`count` distinct prose passages of min_chars..max_chars from `source`, chosen by `seed`."""
    _check_source(source)
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if not 0 < min_chars <= max_chars:
        raise ValueError(f"need 0 < min_chars <= max_chars, got {min_chars}..{max_chars}")
    pool = passage_pool(source, min_chars, max_chars)
    if count > len(pool):
        raise BackgroundSourceError(
            f"asked for {count} {source} passages of {min_chars}..{max_chars} chars but only "
            f"{len(pool)} exist; lower the count, widen the length bounds or pick another source"
        )
    return random.Random(seed).sample(pool, count)


def passage_pool(source: str, min_chars: int = 80, max_chars: int = 400) -> list[str]:
    """Every passage a source yields, deduplicated and sorted so selection is reproducible."""
    _check_source(source)
    cleaned = (_passage(p, min_chars, max_chars) for p in _raw_paragraphs(source))
    return sorted({p for p in cleaned if p is not None})


def source_fingerprint(source: str) -> str:
    """sha256 of the material behind `source` and the rules that cut it, for a content key."""
    _check_source(source)
    if source == "stdlib":
        used, skipped = _import_stdlib()
        identity = [platform.python_implementation(), platform.python_version()]
        material = identity + [m.__name__ for m in used] + [f"skipped:{name}" for name in skipped]
    else:
        material = [[path.name, file_sha256(path)] for path in _source_files(source)]
    return content_sha256({"rules": RULES_VERSION, "source": source, "material": material})


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown background source {source!r}; use one of {SOURCES}")


def _raw_paragraphs(source: str) -> Iterator[str]:
    if source == "stdlib":
        return _stdlib_paragraphs()
    readers = {"fortunes": _fortune_paragraphs, "wordnet": _wordnet_glosses}
    reader = readers.get(source, _gcide_paragraphs)
    return reader(_source_files(source))


def _source_files(source: str) -> list[Path]:
    """The Debian files behind `source`, sorted; raises naming the package when absent."""
    if source == "fortunes":
        # Fortune files have no suffix; `.dat` are indexes and `.u8` are symlinks to them.
        listed = sorted(FORTUNES_DIR.iterdir()) if FORTUNES_DIR.is_dir() else []
        found = [p for p in listed if p.is_file() and not p.is_symlink() and not p.suffix]
    elif source == "wordnet":
        found = [WORDNET_DIR / name for name in WORDNET_FILES if (WORDNET_DIR / name).is_file()]
    else:
        found = [GCIDE_FILE] if GCIDE_FILE.is_file() else []
    if not found:
        where = {"fortunes": FORTUNES_DIR, "wordnet": WORDNET_DIR, "gcide": GCIDE_FILE}[source]
        raise BackgroundSourceError(
            f"background source {source!r} needs {where}, which is absent; install it with "
            f"`apt-get install {PACKAGES[source]}` or use the default source 'stdlib'"
        )
    return sorted(found)


def _import_stdlib() -> tuple[list[types.ModuleType], list[str]]:
    """The modules of STDLIB_MODULES that import here, and the names of those that do not."""
    used, skipped = [], []
    for name in STDLIB_MODULES:
        try:
            used.append(importlib.import_module(name))
        except ImportError:  # a trimmed Python may lack one; the fingerprint records which
            skipped.append(name)
    return used, skipped


def _stdlib_paragraphs() -> Iterator[str]:
    for module in _import_stdlib()[0]:
        for doc in _module_docstrings(module):
            for paragraph in re.split(r"\n\s*\n", inspect.cleandoc(doc)):
                if _is_docstring_prose(paragraph):
                    yield paragraph


def _is_docstring_prose(paragraph: str) -> bool:
    # After cleandoc, indented lines are code samples or argument tables; "::" introduces an
    # RST code block; bullet items are fragments rather than sentences.
    lines = paragraph.split("\n")
    return not (
        "\t" in paragraph
        or "::" in paragraph
        or any(line[:1].isspace() or line.startswith(("- ", "* ")) for line in lines)
    )


def _module_docstrings(module: types.ModuleType) -> Iterator[str]:
    """Docstrings of the module and its own public classes, functions and methods."""
    yield from _own_doc(module)
    for name, member in sorted(vars(module).items()):
        # Re-exports are skipped so a module's text does not depend on what it imports.
        if name.startswith("_") or getattr(member, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(member):
            yield from _own_doc(member)
        elif inspect.isclass(member):
            yield from _own_doc(member)
            for attr, value in sorted(vars(member).items()):
                if not attr.startswith("_") and isinstance(
                    value, types.FunctionType | staticmethod | classmethod | property
                ):
                    yield from _own_doc(value)


def _own_doc(obj: object) -> Iterator[str]:
    # obj.__doc__ rather than inspect.getdoc: getdoc inherits from base classes, which would
    # make a module's text depend on other modules.
    doc = getattr(obj, "__doc__", None)
    if isinstance(doc, str) and doc.strip():
        yield doc


def _fortune_paragraphs(files: list[Path]) -> Iterator[str]:
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        yield from re.split(r"^%$", text, flags=re.MULTILINE)


def _wordnet_glosses(files: list[Path]) -> Iterator[str]:
    for path in files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            # Lines starting with two spaces are the licence header; the gloss follows " | ".
            if not line.startswith("  ") and " | " in line:
                yield line.split(" | ", 1)[1]


def _gcide_paragraphs(files: list[Path]) -> Iterator[str]:
    """Definition blocks of dictd-format GCIDE, without headwords, etymologies and braces."""
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        in_entry = False
        for block in re.split(r"\n[ \t]*\n", text):
            # An entry opens with "Headword \Pro*nun"ci*a`tion\" at column 0; blocks before the
            # first entry (database header, licence) and other column-0 blocks are not entries.
            if block[:1] not in (" ", ""):
                in_entry = bool(re.match(r"[^\n\\]*\\[^\\\n]+\\", block))
            if not in_entry:
                continue
            body = re.sub(r"\[[^\]]*\]", " ", block)  # etymologies and "[1913 Webster]"
            lines = body.split("\n")
            if not lines[0][:1].isspace():
                lines = lines[1:]  # the headword line
            text_lines = [line for line in lines if not line.strip().startswith("Syn:")]
            joined = re.sub(r"^\s*\d+\.\s", "", "\n".join(text_lines))
            yield joined.replace("{", "").replace("}", "")


def _passage(paragraph: str, min_chars: int, max_chars: int) -> str | None:
    """The paragraph as one whitespace-normalised line if it reads as prose, cut to fit."""
    if any(line.lstrip().startswith(">>>") for line in paragraph.split("\n")):
        return None
    text = " ".join(paragraph.split())
    if not _looks_like_prose(text):
        return None
    if len(text) > max_chars:
        text = _truncate(text, min_chars, max_chars)
    return text if len(text) >= min_chars else None


def _looks_like_prose(text: str) -> bool:
    words = text.split()
    if len(words) < MIN_WORDS:
        return False
    non_space = len(text) - text.count(" ")
    letters = sum(c.isalpha() for c in text)
    code = sum(c in CODE_CHARS for c in text)
    wordlike = sum(bool(WORD.match(w)) for w in words)
    return (
        letters >= MIN_LETTER_SHARE * non_space
        and code <= MAX_CODE_SHARE * len(text)
        and wordlike >= MIN_WORD_SHARE * len(words)
    )


def _truncate(text: str, min_chars: int, max_chars: int) -> str:
    """Cut at the last sentence end that fits, else the last word boundary; "" if neither."""
    head = text[: max_chars + 1]
    ends = [m.end() for m in SENTENCE_END.finditer(head) if min_chars <= m.end() <= max_chars]
    if ends:
        return head[: ends[-1]]
    space = head.rfind(" ")
    return head[:space].rstrip(",;:-") if space >= min_chars else ""
