"""Every Mermaid block in the repository's Markdown parses with Mermaid's own parser.

GitHub renders a ```mermaid block with Mermaid; a label holding ``{}`` or ``( )`` unquoted is a parse error
there, and the page shows the error instead of the diagram. ``tests/static/mermaid/`` pins Mermaid (and
jsdom, the DOM its label sanitiser needs) in package.json and package-lock.json; ``make test`` installs them
with ``npm ci`` (``make mermaid-parser``). Node 20 or later runs the parser, no browser.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from offline.template import ROOT

PARSER_DIR = ROOT / "tests" / "static" / "mermaid"
SKIPPED_DIRS = {".git", ".venv", ".venv-checkov", ".aws-sam", "node_modules", "reports", ".pytest_cache"}
BLOCK = re.compile(r"^```mermaid[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def markdown_files() -> list[Path]:
    found = []
    for path in sorted(ROOT.rglob("*.md")):
        if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts):
            found.append(path)
    return found


def mermaid_blocks() -> list[dict[str, str]]:
    blocks = []
    for path in markdown_files():
        text = path.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            blocks.append({"name": f"{path.relative_to(ROOT)}:{line}", "text": match.group(1)})
    return blocks


def parse(blocks: list[dict[str, str]]) -> list[dict[str, object]]:
    node = shutil.which("node")
    assert node, "node (20 or later) is not on PATH: install Node.js to check the Mermaid diagrams"
    assert (PARSER_DIR / "node_modules" / "mermaid").is_dir(), (
        f"Mermaid is not installed in {PARSER_DIR.relative_to(ROOT)}: run make mermaid-parser "
        "(make test does it first)"
    )
    done = subprocess.run(
        [node, "parse.mjs"],
        cwd=PARSER_DIR,
        input=json.dumps(blocks),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_readme_has_a_mermaid_diagram():
    assert any(block["name"].startswith("README.md:") for block in mermaid_blocks())


def test_every_mermaid_block_parses():
    blocks = mermaid_blocks()
    results = parse(blocks)
    assert [r["name"] for r in results] == [b["name"] for b in blocks]
    failures = [f"{r['name']}: {r['error']}" for r in results if not r["ok"]]
    assert not failures, "\n\n".join(failures)
    assert all(r["diagramType"] for r in results)


@pytest.mark.parametrize(
    "label",
    ["Start: execution input, e.g. {}", "HyperparameterTuning (XGBoost)"],
    ids=["braces", "parentheses"],
)
def test_the_parser_rejects_an_unquoted_label_it_cannot_read(label):
    # What GitHub showed as a parse error before the labels were quoted: the check must see it too.
    unquoted, quoted = (f"flowchart TD\n    A[{label}] --> B", f'flowchart TD\n    A["{label}"] --> B')
    results = parse([{"name": "unquoted", "text": unquoted}, {"name": "quoted", "text": quoted}])
    assert [r["ok"] for r in results] == [False, True], results
