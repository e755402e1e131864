"""Fixtures of the unit tests beside the shared ones in tests/conftest.py."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest
import s3_stream

from tests.unit.dataset_support import SMALL_PART


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> int:
    """16 KiB parts, so a few hundred rows go through a multipart upload.

    moto enforces S3's 5 MiB minimum for all parts but the last, like S3: it is lowered here only.
    """
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1)
    monkeypatch.setattr(s3_stream, "PART_SIZE", SMALL_PART)
    return SMALL_PART


@pytest.fixture
def dataset_app(load_handler: Callable[[str], ModuleType]) -> ModuleType:
    """The Generate Training Dataset handler, loaded inside the mock."""
    return load_handler("generate_dataset")
