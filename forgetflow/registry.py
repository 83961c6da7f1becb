"""Things found by name: unlearning methods, memorization metrics, generation backends (and later
attacks, stresses, scenarios). A module registers what it defines with a decorator,
`@METHODS.register("npo", config=NPOConfig)`, and metadata the callers read (a metric's
`higher_is_memorized`, a method's `needs`).

A registry bound to a package imports every module of that package the first time it is asked
for a name, so adding a method, metric or backend is one file dropped into its package: no table
to edit. An unknown name is answered in one line with the registered names and a "did you mean".
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Obj = TypeVar("Obj")


class UnknownNameError(KeyError, ValueError):
    """No entry is registered under this name (one line: the registered names, a close match)."""

    def __str__(self) -> str:  # KeyError would print the repr of its message
        return str(self.args[0]) if self.args else ""


class DuplicateNameError(ValueError):
    """Two different objects registered under one name."""


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """ "; did you mean 'x'?" for the closest known name, or "" when none is close."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_name_message(kind: str, name: object, known: Sequence[str]) -> str:
    """One line: the unknown name, every registered one, and the closest of them."""
    listed = ", ".join(repr(n) for n in sorted(known)) or "none"
    hint = did_you_mean(name, sorted(known)) if isinstance(name, str) else ""
    return f"unknown {kind} {name!r}; registered: {listed}{hint}"


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registration: the value callers get, its metadata, and where it was defined."""

    name: str
    value: T
    meta: Mapping[str, Any]
    origin: str


def origin_of(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


@dataclass
class Registry(Generic[T]):
    """Entries of one kind by name, in registration order.

    `package`: the dotted package whose modules are imported on first use (discovery).
    `build(name, obj, **meta)`: turns a decorated object and its metadata into the stored value
    (by default the object itself). `error`: the UnknownNameError subclass raised for a bad name.
    """

    kind: str
    package: str | None = None
    build: Callable[..., T] | None = None
    error: type[UnknownNameError] = UnknownNameError
    _entries: dict[str, Entry[T]] = field(default_factory=dict, init=False, repr=False)
    _discovered: bool = field(default=False, init=False, repr=False)

    def register(self, name: str, **meta: Any) -> Callable[[Obj], Obj]:
        """A decorator that registers the decorated object under `name` and returns it unchanged."""

        def decorate(obj: Obj) -> Obj:
            value = self.build(name, obj, **meta) if self.build else obj
            self.add(Entry(name, value, MappingProxyType(dict(meta)), origin_of(obj)))
            return obj

        return decorate

    def add(self, entry: Entry[T]) -> None:
        """Store `entry`; re-registering from the same definition (a reloaded module) replaces."""
        known = self._entries.get(entry.name)
        if known is not None and known.origin != entry.origin:
            raise DuplicateNameError(
                f"{self.kind} {entry.name!r} is registered twice: by {known.origin} and by "
                f"{entry.origin}; rename one of them"
            )
        self._entries[entry.name] = entry

    def discover(self) -> None:
        """Import every module of the bound package once (each registers what it defines)."""
        if self._discovered or self.package is None:
            return
        self._discovered = True  # first: a module being imported may ask for a name
        try:
            package = importlib.import_module(self.package)
            for module in pkgutil.iter_modules(package.__path__):
                if not module.name.startswith("_"):
                    importlib.import_module(f"{self.package}.{module.name}")
        except BaseException:
            self._discovered = False  # a broken module is reported again on the next use
            raise

    def entry(self, name: str) -> Entry[T]:
        self.discover()
        if name not in self._entries:
            raise self.error(unknown_name_message(self.kind, name, list(self._entries)))
        return self._entries[name]

    def get(self, name: str) -> T:
        """The value registered as `name`; an unknown name raises `error` in one line."""
        return self.entry(name).value

    def meta(self, name: str) -> Mapping[str, Any]:
        return self.entry(name).meta

    def names(self) -> tuple[str, ...]:
        """Every registered name, in registration order."""
        self.discover()
        return tuple(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        return ((name, self._entries[name].value) for name in self.names())

    def values(self) -> Iterator[T]:
        return (value for _, value in self.items())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self.names()
