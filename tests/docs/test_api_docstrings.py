"""Every public class, function and method of the documented API has a docstring.

The API reference renders docstrings, so a public name without one is a hole in the
site. The sources are read statically (griffe, what mkdocstrings uses), so this runs
without any framework installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import griffe
import pytest

ROOT = Path(__file__).resolve().parents[2]

# The modules whose public names (their __all__) the API reference documents.
DOCUMENTED_MODULES = [
    "rlmodule_core",
    "rlmodule_core.apis",
    "rlmodule_core.modules",
    "rlmodule_core.distributions",
    "rlmodule_core.spaces",
    "rlmodule_core.checkpoint.errors",
    "rlmodule_core.backend",
    "rlmodule_core.train.learner",
    "rlmodule_core.train.env_runner",
    "rlmodule_core.train.algorithms",
    "rlmodule_core.distributed",
    "rlmodule_numpy",
    "rlmodule_torch",
    "rlmodule_tf",
    "rlmodule_jax",
    "rlmodule_onnx",
]


def _load_tools():
    spec = importlib.util.spec_from_file_location("docs_build", ROOT / "tools" / "docs_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def loader() -> griffe.GriffeLoader:
    search = _load_tools().link_packages(ROOT)
    return griffe.GriffeLoader(search_paths=[str(search)])


def _public_names(module: griffe.Module) -> list[str]:
    exported = module.exports
    if exported is None:
        return [name for name in module.members if not name.startswith("_")]
    return [name if isinstance(name, str) else name.name for name in exported]


def _is_public_method(name: str) -> bool:
    return not name.startswith("_") or name == "__init__"


def _has_docstring(cls: griffe.Class, name: str) -> bool:
    """Whether ``cls.name`` or the method it overrides has a docstring.

    An override without a docstring shows its base's, as ``help()`` does (and as the
    docs build renders it, see tools/docs_build.py).
    """
    for klass in [cls, *_bases(cls)]:
        member = klass.members.get(name)
        if member is not None and not isinstance(member, griffe.Alias) and member.docstring:
            if member.docstring.value.strip():
                return True
    return False


def _bases(cls: griffe.Class) -> list[griffe.Class]:
    try:
        return [base for base in cls.mro() if isinstance(base, griffe.Class)]
    except ValueError:  # a base that cannot be resolved statically (a framework class)
        return []


def _undocumented(obj: griffe.Object | griffe.Alias, path: str) -> list[str]:
    obj = obj.final_target if isinstance(obj, griffe.Alias) else obj
    missing = []
    if obj.is_function or obj.is_class:
        if not (obj.docstring and obj.docstring.value.strip()):
            missing.append(path)
    if obj.is_class:
        for name, member in obj.members.items():
            if name.startswith("_") or isinstance(member, griffe.Alias):
                continue
            if member.is_function and not _has_docstring(obj, name):
                missing.append(f"{path}.{name}")
    return missing


@pytest.mark.parametrize("module_name", DOCUMENTED_MODULES)
def test_every_public_name_has_a_docstring(loader, module_name):
    package = module_name.split(".")[0]
    root = loader.modules_collection.get_member(package) if package in loader.modules_collection else None
    if root is None:
        root = loader.load(package)
        loader.resolve_aliases(implicit=False, external=False)
    module = root if module_name == package else root[module_name[len(package) + 1:]]
    assert module.docstring is not None and module.docstring.value.strip(), f"{module_name} has no docstring"
    names = _public_names(module)
    assert names, f"{module_name} exports nothing"
    missing = []
    for name in names:
        member = module[name]
        if isinstance(member, griffe.Alias) and not member.resolved:
            raise AssertionError(f"{module_name}.{name} does not resolve to a definition")
        missing += _undocumented(member, f"{module_name}.{name}")
    assert not missing, "Public names without a docstring:\n  " + "\n  ".join(missing)


def test_a_missing_docstring_is_found(tmp_path):
    """The check itself: a class with an undocumented public method is reported."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text(
        '"""A package."""\n__all__ = ["A", "f"]\n\n'
        'class A:\n    """Documented."""\n\n    def method(self):\n        pass\n\n'
        "def f():\n    pass\n"
    )
    module = griffe.GriffeLoader(search_paths=[str(tmp_path)]).load("pkg")
    found = [m for name in _public_names(module) for m in _undocumented(module[name], f"pkg.{name}")]
    assert found == ["pkg.A.method", "pkg.f"]


def test_the_api_reference_lists_every_top_level_name(loader):
    """A name added to rlmodule_core.__all__ gets a section on docs/api/core.md, and every
    package of pyproject's package-dir one on docs/api/backends.md (or core.md)."""
    core = loader.modules_collection["rlmodule_core"] if "rlmodule_core" in loader.modules_collection \
        else loader.load("rlmodule_core")
    page = (ROOT / "docs" / "api" / "core.md").read_text()
    missing = [n for n in _public_names(core) if n != "__version__" and f"::: rlmodule_core.{n}\n" not in page]
    assert not missing, f"docs/api/core.md has no section for rlmodule_core.{missing}"
    backends_page = (ROOT / "docs" / "api" / "backends.md").read_text()
    packages = _load_tools().tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    absent = [p for p in packages if p != "rlmodule_core" and f"::: {p}\n" not in backends_page]
    assert not absent, f"docs/api/backends.md has no section for {absent}"
