"""samconfig.toml's comment lists every template parameter with its default, so a newcomer editing
``parameter_overrides`` sees all of them in one place."""

from __future__ import annotations

import re
import tomllib
from typing import Any

from offline.template import ROOT


def test_samconfig_is_valid_toml_naming_the_stack() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))

    assert config["default"]["global"]["parameters"]["stack_name"] == "sagemaker-xgboost-tuning"


def test_samconfig_comment_lists_every_parameter_with_its_default(template: dict[str, Any]) -> None:
    comments = "\n".join(
        line
        for line in (ROOT / "samconfig.toml").read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    )
    listed = dict(
        re.findall(r"\b([A-Z][A-Za-z0-9]+)=(\S*)", comments.split("The parameters, with their defaults")[1])
    )

    assert set(listed) == set(template["Parameters"])
    for name, spec in template["Parameters"].items():
        assert listed[name] == str(spec.get("Default", "")), name
