"""README's "Repository layout" names every top-level folder git tracks, and nothing that is not there."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from offline.template import ROOT

SECTION = "## Repository layout"


def tracked_files() -> list[str]:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.fail("this test reads the tracked files with git ls-files: run it in a git checkout")
    listed = subprocess.run([git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [name for name in listed.stdout.decode().split("\0") if name]


def layout_paths() -> list[str]:
    """The paths in the first column of the section's table, as written (folders end with /)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert SECTION in text, f"README.md has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    paths = []
    for line in section.splitlines():
        cells = line.split("|")
        if line.startswith("|") and len(cells) > 2 and not set(cells[1].strip()) <= set("-: "):
            paths.extend(re.findall(r"`([^`]+)`", cells[1]))
    return paths


def test_every_top_level_folder_tracked_by_git_has_a_line() -> None:
    folders = {name.split("/", 1)[0] + "/" for name in tracked_files() if "/" in name}
    named = {path for path in layout_paths() if path.endswith("/")}

    missing = sorted(folder for folder in folders if folder not in named)
    assert not missing, f"README.md's {SECTION!r} does not name {missing}: add a line saying what each owns"


def test_every_path_of_the_layout_is_tracked() -> None:
    files = tracked_files()
    paths = layout_paths()

    assert len(paths) >= 10
    stale = [p for p in paths if not any(f == p or f.startswith(p.rstrip("/") + "/") for f in files)]
    assert not stale, f"README.md's {SECTION!r} names {stale}, which git does not track"
