"""The AWS tools accept the template: cfn-lint, sam validate --lint, sam build."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from offline.template import ROOT
from tests.static.conftest import run_tool, tool

# Directories of the repository that must never end up in a function's deployment package.
NOT_DEPLOYED = {"tests", "offline", "events", "statemachine", "scripts", ".venv", ".aws-sam", ".git"}


@pytest.fixture(scope="module")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One ``sam build`` per session into a temporary directory; ``--no-cached`` keeps the repo clean."""
    build_dir = tmp_path_factory.mktemp("sam") / "build"
    result = run_tool(
        [
            tool("sam"),
            "build",
            "--template-file",
            "template.yaml",
            "--build-dir",
            str(build_dir),
            "--no-cached",
        ],
        timeout=300,
    )
    return result, build_dir


def test_cfn_lint_reports_nothing() -> None:
    result = run_tool([tool("cfn-lint"), "template.yaml"])
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_sam_validate_lint_passes_without_credentials() -> None:
    result = run_tool([tool("sam"), "validate", "--lint", "--template-file", "template.yaml"], timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_sam_build_succeeds(sam_build: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, build_dir = sam_build
    assert result.returncode == 0, result.stdout + result.stderr
    assert (build_dir / "template.yaml").is_file()


def _built_functions(build_dir: Path) -> dict[str, Path]:
    """Function logical id -> its artifact directory, as the built template names it."""
    built: dict[str, Any] = cfn_yaml.load(str(build_dir / "template.yaml"))
    return {
        logical_id: build_dir / resource["Properties"]["CodeUri"]
        for logical_id, resource in built["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def test_built_functions_hold_their_handler_and_nothing_from_elsewhere(
    sam_build: tuple[subprocess.CompletedProcess[str], Path], template: dict[str, Any]
) -> None:
    result, build_dir = sam_build
    assert result.returncode == 0, result.stdout + result.stderr
    artifacts = _built_functions(build_dir)
    functions = {
        logical_id: resource["Properties"]["CodeUri"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert set(artifacts) == set(functions)
    for logical_id, artifact in artifacts.items():
        source = ROOT / functions[logical_id]
        files = {path.relative_to(artifact) for path in artifact.rglob("*") if path.is_file()}
        assert (artifact / "app.py").read_bytes() == (source / "app.py").read_bytes(), logical_id
        leaked = {path for path in files if NOT_DEPLOYED & set(path.parts)}
        assert not leaked, f"{logical_id} deploys {sorted(map(str, leaked))}"
        # Everything in the package comes from the function's own directory (no third-party code).
        foreign = {path for path in files if not (source / path).is_file()}
        assert not foreign, (
            f"{logical_id} deploys files not in {functions[logical_id]}: {sorted(map(str, foreign))}"
        )
