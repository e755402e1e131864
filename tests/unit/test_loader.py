"""How every handler is loaded (tests, bench, offline engine): as the Lambda runtime loads it."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from functions import loader

FUNCTION_DIRS = sorted(p.parent for p in loader.FUNCTIONS_DIR.glob("*/app.py"))


def test_modules_beside_the_handlers_have_names_of_their_own() -> None:
    """They are imported by their plain names, as in the Lambda runtime: two with one name would clash."""
    names = Counter(
        path.stem
        for folder in FUNCTION_DIRS
        for path in folder.glob("*.py")
        if path.stem not in ("app", "__init__")
    )
    assert [name for name, count in names.items() if count > 1] == []
    assert "dataset_writer" in names and "evaluation" in names


@pytest.mark.parametrize("folder", FUNCTION_DIRS, ids=lambda p: p.name)
def test_no_function_module_edits_sys_path(folder: Path) -> None:
    for path in folder.glob("*.py"):
        assert not re.search(r"sys\.path\.(insert|append)", path.read_text(encoding="utf-8")), path


def test_each_load_is_a_fresh_module_run_as_lambda_runs_it() -> None:
    first = loader.load_handler("extract_model_name")
    second = loader.load_handler(loader.FUNCTIONS_DIR / "extract_model_name", "app.lambda_handler")
    try:
        assert first is not second and first.__name__ != second.__name__
        assert (
            first.__file__ == second.__file__ == str(loader.FUNCTIONS_DIR / "extract_model_name" / "app.py")
        )
        assert callable(first.lambda_handler)
        assert str(loader.FUNCTIONS_DIR / "extract_model_name") in sys.path
    finally:
        loader.unload(first)
        loader.unload(second)
    assert first.__name__ not in sys.modules


def test_a_missing_handler_module_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        loader.HandlerNotFound, match=r"handler main\.handler needs .*main\.py, which is missing"
    ):
        loader.load_handler(tmp_path, "main.handler")
