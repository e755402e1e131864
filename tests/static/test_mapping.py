"""The XGBoost registry map in the template is the SageMaker SDK's, for every version the template offers."""

from __future__ import annotations

import importlib.util
import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from offline.template import ROOT
from tests.static.conftest import run_tool

GENERATOR = ROOT / "scripts" / "generate_xgboost_mapping.py"


@pytest.fixture(scope="module")
def xgboost_config() -> dict[str, Any]:
    """sagemaker-core's image_uri_config/xgboost.json, located without the generator's help."""
    dist = metadata.distribution("sagemaker-core")
    files = [
        f for f in dist.files or [] if str(f).replace("\\", "/").endswith("image_uri_config/xgboost.json")
    ]
    assert len(files) == 1, files
    return json.loads(Path(dist.locate_file(files[0])).read_text())


def test_mapping_generator_reports_the_template_up_to_date() -> None:
    result = run_tool([sys.executable, str(GENERATOR), "--check"])
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_registry_matches_the_sdk_for_every_allowed_version(
    template: dict[str, Any], xgboost_config: dict[str, Any]
) -> None:
    mapping = template["Mappings"]["XGBoostRegistry"]
    versions = template["Parameters"]["XGBoostVersion"]["AllowedValues"]
    assert versions
    for version in versions:
        spec = xgboost_config["training"]["versions"][version]
        assert {region: entry["Account"] for region, entry in mapping.items()} == spec["registries"], version
        assert {entry["Repository"] for entry in mapping.values()} == {spec["repository"]}, version


def test_every_region_of_the_sdk_is_mapped(template: dict[str, Any], xgboost_config: dict[str, Any]) -> None:
    mapping = template["Mappings"]["XGBoostRegistry"]
    for version in template["Parameters"]["XGBoostVersion"]["AllowedValues"]:
        regions = set(xgboost_config["training"]["versions"][version]["registries"])
        assert regions - set(mapping) == set(), version
    # Accounts are strings: YAML would read an unquoted 12-digit number as an int and drop leading zeros.
    assert all(
        isinstance(entry["Account"], str) and len(entry["Account"]) == 12 for entry in mapping.values()
    )


def test_generator_offers_the_versions_the_template_allows(template: dict[str, Any]) -> None:
    spec = importlib.util.spec_from_file_location("_generate_xgboost_mapping", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert list(module.VERSIONS) == template["Parameters"]["XGBoostVersion"]["AllowedValues"]
