"""Static security: bandit finds nothing in functions/; every checkov check the template skips says why.

``make lint`` (which ``make test`` runs first) runs bandit and checkov itself; checkov lives in its own
virtual environment (``.venv-checkov``), so it is not run from here. These tests keep what makes those two
pass honest: a skip without a reason, a ``# nosec`` without a test id or a reason, or a lint target that
stopped running either tool, fails here too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

from offline.template import ROOT

CHECK_ID = re.compile(r"CKV2?_AWS_\d+")
NOSEC = re.compile(r"#\s*nosec\b(?P<rest>.*)")


def makefile_target(name: str) -> tuple[list[str], list[str]]:
    """(prerequisites, recipe lines) of a Makefile target."""
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if line.startswith(f"{name}:"):
            recipe = []
            for following in lines[index + 1 :]:
                if not following.startswith("\t"):
                    break
                recipe.append(following.strip())
            return line.partition(":")[2].split(), recipe
    raise AssertionError(f"the Makefile has no target {name}")


def test_bandit_finds_nothing_in_the_functions() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bandit", "--recursive", "functions", "--format", "json", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(result.stdout)
    assert [(r["filename"], r["line_number"], r["test_id"], r["issue_text"]) for r in report["results"]] == []
    assert report["errors"] == []
    assert result.returncode == 0
    assert report["metrics"]["_totals"]["loc"] > 100, "bandit scanned no code"


def test_every_nosec_names_the_bandit_test_and_gives_a_reason() -> None:
    found = 0
    for path in sorted((ROOT / "functions").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = NOSEC.search(line)
            if not match:
                continue
            found += 1
            where = f"{path.relative_to(ROOT)}:{number}"
            assert re.match(r"\s*B\d{3}\b", match["rest"]), f"{where}: # nosec must name the test (B311...)"
            comment = line.partition("#")[2]
            reason = comment.split("#")[0].strip()
            assert len(reason) >= 10 and "nosec" not in reason and "noqa" not in reason, (
                f"{where}: say why beside the # nosec"
            )
    assert found >= 1  # generate_dataset's seeded random.Random


def test_every_checkov_skip_in_the_template_names_a_check_and_gives_a_reason(
    template: dict[str, Any],
) -> None:
    skipped = 0
    for logical_id, resource in template["Resources"].items():
        skips = ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []
        ids = [skip.get("id") for skip in skips]
        assert len(ids) == len(set(ids)), f"{logical_id} skips a check twice"
        for skip in skips:
            assert set(skip) == {"id", "comment"}, logical_id
            assert CHECK_ID.fullmatch(str(skip["id"])), f"{logical_id}: {skip['id']!r} is no checkov id"
            # A reason a reviewer can weigh, not a placeholder.
            assert len(str(skip["comment"]).split()) >= 12, (
                f"{logical_id} skips {skip['id']} without a reason"
            )
            skipped += 1
    assert skipped > 0


def test_make_test_runs_the_lint_with_bandit_and_checkov_in_its_own_environment() -> None:
    test_prerequisites, _ = makefile_target("test")
    assert "lint" in test_prerequisites
    lint_prerequisites, recipe = makefile_target("lint")
    assert "$(CHECKOV_VENV)/.installed" in lint_prerequisites
    assert "$(PY) -m ruff check ." in recipe and "$(PY) -m ruff format --check ." in recipe
    assert any(line.startswith("$(PY) -m bandit") and line.endswith(" functions") for line in recipe)
    (checkov,) = [line for line in recipe if "checkov" in line]
    assert checkov.startswith("$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation")
    # checkov's pins must never reach the main environment (they break aws-sam-cli).
    requirements = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    assert "checkov" not in re.sub(r"#.*", "", requirements)
    assert re.search(r"^checkov==\S+$", (ROOT / "requirements-checkov.txt").read_text(), re.MULTILINE)
