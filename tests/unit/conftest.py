"""Fixtures of the unit tests beside the shared ones in tests/conftest.py."""

from __future__ import annotations

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
