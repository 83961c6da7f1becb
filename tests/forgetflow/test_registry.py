"""Registry[T]: registration with metadata, one-line unknown names with a did-you-mean, and
discovery of a bound package (a module dropped into it registers itself)."""

from __future__ import annotations

import pytest

from forgetflow.generation.config import BACKENDS, BackendConfig, serves_model
from forgetflow.memorization.metrics import METRICS, direction, parse_metrics
from forgetflow.registry import DuplicateNameError, Registry, UnknownNameError
from forgetflow.unlearning.methods.registry import METHODS, get_method


def test_register_keeps_the_object_and_its_metadata() -> None:
    things: Registry[object] = Registry("thing")

    @things.register("double", higher_is_memorized=True)
    def double(x: int) -> int:
        return 2 * x

    assert double(2) == 4 and things.get("double") is double
    assert things.meta("double")["higher_is_memorized"] is True
    assert things.names() == ("double",) and list(things) == ["double"] and "double" in things
    assert dict(things.items()) == {"double": double} and len(things) == 1


def test_build_turns_the_decorated_object_into_the_stored_value() -> None:
    things: Registry[tuple[str, int]] = Registry(
        "thing", build=lambda name, obj, size: (name, size)
    )

    @things.register("a", size=3)
    class A:
        pass

    assert things.get("a") == ("a", 3)


def test_an_unknown_name_is_one_line_with_the_names_and_a_close_match() -> None:
    things: Registry[int] = Registry("widget")
    for name in ("alpha", "beta"):
        things.register(name)(len)
    with pytest.raises(UnknownNameError) as caught:
        things.get("alpah")
    message = str(caught.value)
    assert message == "unknown widget 'alpah'; registered: 'alpha', 'beta'; did you mean 'alpha'?"
    with pytest.raises(KeyError, match="registered: 'alpha', 'beta'$"):
        things.get("zzz")  # nothing close: no hint
    with pytest.raises(ValueError):
        things.get("zzz")


def test_two_definitions_under_one_name_are_refused() -> None:
    things: Registry[object] = Registry("thing")
    things.register("x")(len)
    things.register("x")(len)  # the same definition again (a reloaded module): replaced
    with pytest.raises(DuplicateNameError, match="'x' is registered twice"):
        things.register("x")(abs)


def test_discovery_imports_every_module_of_the_bound_package(tmp_path, monkeypatch) -> None:
    package = tmp_path / "plugins_for_registry_test"
    package.mkdir()
    (package / "__init__.py").write_text("from forgetflow.registry import Registry\n"
                                         "THINGS = Registry('thing', __name__)\n")  # fmt: skip
    for name in ("one", "two", "_private"):
        (package / f"{name}.py").write_text(
            f"from plugins_for_registry_test import THINGS\n\n"
            f"@THINGS.register({name!r}, size={len(name)})\ndef {name}() -> None: ...\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    from plugins_for_registry_test import THINGS  # type: ignore[import-not-found]

    assert THINGS.names() == ("one", "two")  # underscore modules are not plug-ins
    assert THINGS.meta("two")["size"] == 3


def test_the_builtin_registries_find_their_entries() -> None:
    assert {"grad_ascent", "grad_diff", "idk_dpo", "npo", "simnpo"} <= set(METHODS.names())
    assert {"ma", "loss", "zlib", "min_k", "min_kpp", "el", "extract"} <= set(METRICS.names())
    assert {"hf", "vllm", "fake", "template"} <= set(BACKENDS.names())
    assert [serves_model(n) for n in ("hf", "vllm", "fake", "template")] == [1, 1, 0, 0]
    assert direction("min_k_20") == 1 and direction("zlib") == -1
    assert METRICS.meta("loss")["higher_is_memorized"] is False


@pytest.mark.parametrize(
    ("ask", "expected"),
    [
        (lambda: get_method("npoo"), "registered: .*'npo'.*'simnpo'.*; did you mean 'npo'\\?$"),
        (lambda: parse_metrics(["los"]), "forms: ma, loss.*extract_k<k>.*mean 'loss'"),
        (lambda: BackendConfig(name="vlm"), "registered: 'fake', 'hf'.*did you mean 'vllm'\\?"),
    ],
)  # fmt: skip
def test_unknown_names_in_each_registry_are_one_line(ask, expected) -> None:
    with pytest.raises(ValueError, match=expected) as caught:
        ask()
    inner = caught.value.errors()[0]["msg"] if hasattr(caught.value, "errors") else ""
    assert "\n" not in (inner or str(caught.value))
