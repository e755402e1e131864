"""The integration test exists under its marker: a typo in its name or marker cannot make it vanish."""

from __future__ import annotations

import subprocess
import sys

from offline.template import ROOT

MODULE = "tests/integration/test_deployed_stack.py"


def _collect(*options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *options]
    return subprocess.run(
        [*command, "tests/integration"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_integration_tests_are_collected_under_their_marker() -> None:
    result = _collect("-m", "integration")
    assert result.returncode == 0, result.stdout + result.stderr
    collected = {line for line in result.stdout.splitlines() if "::" in line}
    assert {
        f"{MODULE}::test_execution_succeeds",
        f"{MODULE}::test_output_summarises_the_run",
        f"{MODULE}::test_run_leaves_data_model_and_predictions_in_s3",
    } <= collected


def test_integration_tests_are_deselected_by_default() -> None:
    result = _collect()
    # Exit code 5: nothing selected to run.
    assert result.returncode == 5, result.stdout + result.stderr
    assert "deselected" in result.stdout
