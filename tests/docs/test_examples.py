"""Every script in examples/ says what it shows and is run by a nox session."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def test_there_are_examples():
    assert EXAMPLES, "examples/ has no scripts"


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_is_run_by_nox(script):
    noxfile = (ROOT / "noxfile.py").read_text()
    assert f'"examples/{script.name}"' in noxfile, (
        f"examples/{script.name} is not run by any nox session; add "
        f'session.run("python", "examples/{script.name}") to the session with its framework.'
    )


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_states_what_it_shows_first(script):
    docstring = ast.get_docstring(ast.parse(script.read_text()))
    assert docstring, f"examples/{script.name} has no module docstring"
    first = docstring.splitlines()[0]
    number = script.name.split("_")[0]
    assert re.fullmatch(rf"{number} - [^:]+: .+", first), (
        f"examples/{script.name} should start with '{number} - Title: what it shows'; it starts with {first!r}."
    )
