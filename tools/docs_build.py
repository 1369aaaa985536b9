"""Support for the docs build: package links for griffe and two griffe extensions.

The backends live in ``src/backends/<framework>`` but import as ``rlmodule_<framework>``;
griffe (which mkdocstrings uses to read the sources without importing them, so the docs
build needs no framework) finds packages by directory name. This links each import name
to its directory under ``build/docs-packages``. Used as a MkDocs hook (``on_config``) and
by the docstring check in ``tests/docs``. ``InheritDocstrings`` and ``ExampleSections`` are
griffe extensions (mkdocs.yml loads them).
"""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import griffe

__all__ = ["PACKAGES_DIR", "ExampleSections", "InheritDocstrings", "link_packages", "on_config"]

#: Where the links go, relative to the repository root (``build/`` is ignored by git).
PACKAGES_DIR = Path("build") / "docs-packages"


def link_packages(root: Path) -> Path:
    """Creates ``root/build/docs-packages/<import name>`` for every top-level package.

    Args:
        root: the repository root (where pyproject.toml is).

    Returns:
        The directory to give griffe (or mkdocstrings' ``paths``) as a search path.
    """
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    package_dir: dict[str, str] = pyproject["tool"]["setuptools"]["package-dir"]
    target = root / PACKAGES_DIR
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name, source in package_dir.items():
        (target / name).symlink_to((root / source).resolve(), target_is_directory=True)
    return target


def on_config(config: Any) -> Any:
    """MkDocs hook: link the packages before mkdocstrings reads them."""
    link_packages(Path(config.config_file_path).parent)
    return config


class InheritDocstrings(griffe.Extension):
    """Griffe extension: a method override without a docstring shows its base's.

    Python's ``help()`` does the same (``inspect.getdoc``); the docstring check in
    ``tests/docs`` accepts such overrides, so the rendered pages must show the text.
    """

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Fills the missing docstrings of the overrides in ``pkg``'s classes."""
        for cls in _classes(pkg):
            try:
                bases = cls.mro()
            except ValueError:  # a base that cannot be resolved statically (a framework class)
                continue
            for name, member in cls.members.items():
                if member.is_alias or not member.is_function or member.docstring:
                    continue
                for base in bases:
                    inherited = base.members.get(name)
                    if inherited is not None and not inherited.is_alias and inherited.docstring:
                        member.docstring = griffe.Docstring(
                            inherited.docstring.value, parser=inherited.docstring.parser, parent=member
                        )
                        break


def _classes(module: griffe.Module) -> list[griffe.Class]:
    found: list[griffe.Class] = []
    stack: list[griffe.Object] = [module]
    while stack:
        obj = stack.pop()
        for member in obj.members.values():
            if member.is_alias:
                continue
            if member.is_module or member.is_class:
                stack.append(member)
            if member.is_class:
                found.append(member)
    return found


class ExampleSections(griffe.Extension):
    """Griffe extension: a Google ``Example:`` section renders like ``Examples:``.

    The project's docstrings use the singular heading (both are Google style); griffe
    parses only the plural as code examples and would show ``>>>`` lines as text.
    """

    _HEADING = re.compile(r"^Example:$", re.MULTILINE)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rewrites the heading in every docstring of ``pkg``."""
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if obj.docstring is not None:
                obj.docstring.value = self._HEADING.sub("Examples:", obj.docstring.value)
            stack.extend(m for m in obj.members.values() if not m.is_alias)
