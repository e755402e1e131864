"""The content check of your own training and validation files: every line as the built-in XGBoost's CSV
reader takes it (label first, no header, the same columns on every row, finite numbers or missing values).

The object checks, the S3 errors and the test file's split are in own_data.py, which uses this module.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Any

MIN_COLUMNS = 2
# A field as XGBoost's CSV reader takes it: a number (spaces around it allowed), or a missing value (an empty
# field or nan); an infinite value fails the container's training.
_NUMBER_TEXT = r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*"
_MISSING_TEXT = r"\s*(?:[nN][aA][nN])?\s*"
_NUMBER = re.compile(_NUMBER_TEXT)
_MISSING = re.compile(_MISSING_TEXT)
_INFINITY = re.compile(r"\s*[-+]?[iI][nN][fF](?:[iI][nN][iI][tT][yY])?\s*")
_FEATURES = re.compile(rf"(?:{_NUMBER_TEXT}|{_MISSING_TEXT})(?:,(?:{_NUMBER_TEXT}|{_MISSING_TEXT}))*")
# Training and validation files are checked in full up to this size each: the check ran at about 13 MB/s
# of CSV on a busy 2-core machine, so two such files take under three minutes of the function's ten.
# Beyond it, the training job reports a fault.
FULL_CHECK_BYTES = 1024**3


class OwnDataInvalid(ValueError):
    """The object is not a CSV file the built-in XGBoost can train on (empty, header, ragged, non-numeric)."""


@dataclass(frozen=True)
class S3Object:
    role: str  # trainUri, validationUri or testUri: named in every message
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def _not_a_number(obj: S3Object, line_number: int, column: int, text: str) -> OwnDataInvalid:
    what = (
        "a header row? remove it"
        if line_number == 1
        else "every value must be a number or empty; XGBoost would silently read text as a missing value"
    )
    return OwnDataInvalid(
        f"data.{obj.role} {obj.uri} line {line_number}, column {column}: {text[:40]!r} is not a number "
        f"({what}; no header, label first)"
    )


def check_line(obj: S3Object, line_number: int, line: str) -> int | None:
    """The column count of one line as XGBoost's CSV reader reads it, or None for a blank line (skipped).

    Accepted as the container accepts them: an empty field or ``nan`` is a missing value. Refused: what
    fails the container's training (a NaN, infinite or empty label; an infinite value; a line without a
    comma) and what XGBoost would silently read as something else (text, such as a header row).
    """
    if not line:
        return None
    columns = line.count(",") + 1
    if columns < MIN_COLUMNS:
        raise OwnDataInvalid(
            f"data.{obj.role} {obj.uri} line {line_number}: {columns} column; the built-in XGBoost wants "
            "the label first and at least one feature, comma-separated"
        )
    label, _, features = line.partition(",")
    if not _NUMBER.fullmatch(label):
        if _MISSING.fullmatch(label) or _INFINITY.fullmatch(label):
            raise OwnDataInvalid(
                f"data.{obj.role} {obj.uri} line {line_number}, column 1: label {label.strip()[:40]!r} is "
                "not a finite number (every row needs a label; the container fails the training on a "
                "missing, NaN or infinite label)"
            )
        raise _not_a_number(obj, line_number, 1, label)
    if not _FEATURES.fullmatch(features):
        for column, text in enumerate(features.split(","), start=2):
            if _INFINITY.fullmatch(text):
                raise OwnDataInvalid(
                    f"data.{obj.role} {obj.uri} line {line_number}, column {column}: {text.strip()!r} is "
                    "infinite (the container's XGBoost refuses infinite values; leave the field empty for a "
                    "missing value)"
                )
            if not (_NUMBER.fullmatch(text) or _MISSING.fullmatch(text)):
                raise _not_a_number(obj, line_number, column, text)
    return columns


def _block_is_clean(block: bytes, columns: int) -> bool:
    """Whether every line of ``block`` (whole lines) has ``columns`` fields, all of them finite numbers.

    The common case, checked with C-speed bytes and float operations. False sends the block through
    check_line, line by line: blank lines, missing values and faults all take that way.
    """
    lines = block.split(b"\n")[:-1]
    if set(map(bytes.count, lines, itertools.repeat(b","))) != {columns - 1}:
        return False
    if b"_" in block:  # float() reads 1_000; XGBoost would not
        return False
    try:
        return math.isfinite(sum(map(float, block.replace(b"\n", b",").split(b",")[:-1])))
    except ValueError:
        return False


def check_body(obj: S3Object, body: Any, chunk_bytes: int) -> int:
    """The lines of a training or validation file's streaming ``body``, checked as the container reads them;
    the column count.

    The first FULL_CHECK_BYTES are checked (all of any file the function can read in its time); a fault
    further in is left to the training job, whose failure reason names it.
    """
    columns, first, number, pending, read = 0, 0, 0, b"", 0
    chunks = body.iter_chunks(chunk_bytes)
    for chunk in itertools.chain(chunks, [None]):
        if chunk is None:
            block, pending = (pending + b"\n" if pending else b""), b""
        else:
            pending += chunk
            cut = pending.rfind(b"\n") + 1
            block, pending = pending[:cut], pending[cut:]
        if not block:
            continue
        if not (columns and _block_is_clean(block, columns)):
            text = decode(obj, block)
            for offset, line in enumerate(text.split("\n")[:-1], start=1):
                found = check_line(obj, number + offset, line.removesuffix("\r"))
                if found is None:
                    continue
                if not columns:
                    columns, first = found, number + offset
                if found != columns:
                    raise OwnDataInvalid(
                        f"data.{obj.role} {obj.uri} line {number + offset}: {found} columns, line {first} "
                        f"has {columns}: every row needs the same columns"
                    )
        number += block.count(b"\n")
        read += len(block)
        if read >= FULL_CHECK_BYTES:
            body.close()
            break
    if not columns:
        raise OwnDataInvalid(f"data.{obj.role} {obj.uri}: no rows")
    return columns


def decode(obj: S3Object, body: bytes, *, cut: bool = False) -> str:
    """``body`` as text; ``cut``: it is a sample that may end inside a multi-byte character."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        if cut and e.start >= len(body) - 3:
            return body[: e.start].decode("utf-8")
        raise OwnDataInvalid(
            f"data.{obj.role} {obj.uri}: byte {e.start} is not UTF-8 text (is it compressed or binary? "
            "the built-in XGBoost reads plain CSV here)"
        ) from e
