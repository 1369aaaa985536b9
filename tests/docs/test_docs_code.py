"""Every ```python block of the documentation runs, so no page can rot.

A page's blocks run in order, in one fresh Python process per page and framework, in an
empty temporary directory, sharing one namespace as the body of one script (a later block
uses what an earlier one defined). A block that needs a framework carries the HTML comment
``<!-- docs-test: torch -->`` (or ``tf``, ``jax``) on the line before its fence; unmarked
blocks need no framework. The "numpy" chain of a page is its unmarked blocks; the "torch"
chain is the unmarked blocks and the torch blocks, in page order (so a torch block can use
what the page built before it), and so on. A chain runs in the session that tests its
backend (``RLMODULE_TEST_BACKENDS``, as the conformance suite): the docs and core sessions
run the numpy chains, the torch/tf/jax sessions theirs. Nothing is skipped: a chain is
either run here or belongs to another session.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rlmodule_core.testing.selection import selected_backends

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CHAINS = ("numpy", "torch", "tf", "jax")

_FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"<!--\s*docs-test:\s*(\S+)\s*-->\s*$")


def extract_blocks(text: str) -> list[tuple[str, int, str]]:
    """``(chain, line, code)`` of every python block; ``chain`` is its marker or "numpy"."""
    blocks = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        blocks.append((marker.group(1) if marker else "numpy", line, match.group(1)))
    return blocks


# The blocks run as the body of a script: classes they define live in __main__, as in a
# user's script (which matters for checkpoints: they record a class's import path).
_RUNNER = """
import json, sys, types
blocks = json.loads(sys.argv[1])
main = types.ModuleType("__main__")
sys.modules["__main__"] = main
for name, code in blocks:
    exec(compile(code, name, "exec"), main.__dict__)
"""


def _chains() -> list[tuple[Path, str]]:
    found = []
    for page in PAGES:
        for chain in sorted({chain for chain, _, _ in extract_blocks(page.read_text())}):
            found.append((page, chain))
    return found


def _selected(chains: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    wanted = set(selected_backends())
    return [(page, chain) for page, chain in chains if chain in wanted]


@pytest.mark.parametrize(
    ("page", "chain"), _selected(_chains()), ids=lambda v: v.name if isinstance(v, Path) else v
)
def test_page_blocks_run(page, chain, tmp_path):
    blocks = [
        (f"{page.relative_to(ROOT)}:{line}", code)
        for c, line, code in extract_blocks(page.read_text()) if c in ("numpy", chain)
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), *sys.path]))}
    env.pop("RLMODULE_FRAMEWORK", None)
    result = subprocess.run(
        [sys.executable, "-c", _RUNNER, json.dumps(blocks)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, (
        f"{page.name} ({chain} blocks) failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    )


def test_every_marker_names_a_tested_backend():
    """A typo in a marker would leave its blocks in a chain no session runs."""
    unknown = [(page.name, chain) for page, chain in _chains() if chain not in CHAINS]
    assert not unknown, f"Unknown docs-test markers {unknown}; expected one of {CHAINS}."


def test_extraction_sees_markers_and_order():
    text = (
        "x\n```python\na = 1\n```\n<!-- docs-test: torch -->\n```python\nimport torch\n```\n"
        "```bash\nls\n```\n```python\nb = a\n```\n"
    )
    assert [(chain, code) for chain, _, code in extract_blocks(text)] == [
        ("numpy", "a = 1\n"), ("torch", "import torch\n"), ("numpy", "b = a\n"),
    ]


def test_a_failing_block_fails(tmp_path):
    """The runner reports an exception in a block as a failure with the block's location."""
    page = tmp_path / "page.md"
    page.write_text("```python\nraise RuntimeError('boom')\n```\n")
    blocks = [(f"page.md:{line}", code) for _, line, code in extract_blocks(page.read_text())]
    result = subprocess.run([sys.executable, "-c", _RUNNER, json.dumps(blocks)], capture_output=True, text=True)
    assert result.returncode != 0 and "page.md:1" in result.stderr and "boom" in result.stderr
