"""Batch transform of CSV objects: splitting, mini-batches, DataProcessing and assembling, as SageMaker does.

For every input object: records are lines (``SplitType: Line``) or the whole object (``None``); each
record, read as a JSON array of its CSV fields, goes through ``InputFilter``; records are sent to the model
one by one (``SingleRecord``) or as many as fit in ``MaxPayloadInMB`` (``MultiRecord``); with
``JoinSource: Input`` each prediction is appended to its input record, and ``OutputFilter`` picks fields of
the joined record; ``AssembleWith: Line`` ends every response with a newline (the container's already end
with one), ``None`` concatenates the responses as they come. What each response holds is the container's
(``offline.container_serve``).

JSONPath filters use jsonpath-ng. SageMaker's unions of indexes and slices (``$[0,5:]``) are split into
their parts, which jsonpath-ng evaluates one by one; an index outside the record is an error, as on SageMaker.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from jsonpath_ng import parse as jsonpath_parse
from jsonpath_ng.exceptions import JsonPathParserError

from offline.container_serve import Serving
from offline.xgboost_algorithm import AlgorithmFailure, client_error

DEFAULT_MAX_PAYLOAD_MB = 6
_BRACKETS = re.compile(r"^\$\[(?P<body>[^\[\]]*)\]$")
_INDEX = re.compile(r"^\s*-?\d+\s*$")


@dataclass(frozen=True)
class TransformSettings:
    split_type: str = "None"
    batch_strategy: str = "MultiRecord"
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_MB * 1024 * 1024
    content_type: str = "text/csv"
    accept: str = "text/csv"
    assemble_with: str = "None"
    input_filter: str = "$"
    join_source: str = "None"
    output_filter: str = "$"

    @classmethod
    def from_request(cls, request: Mapping[str, Any]) -> TransformSettings:
        source = request.get("TransformInput") or {}
        output = request.get("TransformOutput") or {}
        processing = request.get("DataProcessing") or {}
        payload_mb = request.get("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB)
        return cls(
            split_type=source.get("SplitType") or "None",
            batch_strategy=request.get("BatchStrategy") or "MultiRecord",
            # 0 asks for HTTP chunked encoding, which has no size limit.
            max_payload_bytes=payload_mb * 1024 * 1024 if payload_mb else 2**62,
            content_type=source.get("ContentType") or "text/csv",
            accept=output.get("Accept") or "text/csv",
            assemble_with=output.get("AssembleWith") or "None",
            input_filter=processing.get("InputFilter") or "$",
            join_source=processing.get("JoinSource") or "None",
            output_filter=processing.get("OutputFilter") or "$",
        )

    def check(self) -> None:
        """The combinations the built-in XGBoost container and SageMaker refuse."""
        if _media(self.content_type) not in ("text/csv", "csv"):
            raise client_error(
                f"Content-type {self.content_type} not supported by the offline emulator "
                "(the XGBoost container reads text/csv, libsvm, recordio-protobuf; only text/csv is emulated)"
            )
        if self.split_type not in ("None", "Line"):
            raise client_error(f"SplitType {self.split_type} is not supported for text/csv input")
        if self.join_source == "Input" and _media(self.accept) != "text/csv":
            raise client_error(
                "JoinSource Input with text/csv input needs Accept text/csv: the joined record is a CSV line"
            )
        for expression in (self.input_filter, self.output_filter):
            compile_filter(expression)


def _media(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


@functools.cache
def compile_filter(expression: str) -> Callable[[list[str]], list[str]]:
    """A DataProcessing filter: a function from a record (its fields) to the selected fields."""
    text = expression.strip()
    if text == "$":
        return list
    match = _BRACKETS.match(text)
    parts = [p.strip() for p in match["body"].split(",")] if match else [text]
    # Explicit indexes must exist in the record, as on SageMaker; slices and wildcards may select nothing.
    indexes = [int(p) for p in parts if match and _INDEX.match(p)]
    try:
        paths = [jsonpath_parse(f"$[{p}]" if match else p) for p in parts]
    except (JsonPathParserError, ValueError, TypeError, AttributeError) as e:
        raise client_error(f"Invalid JSONPath expression {expression!r}: {e}") from None

    def select(record: list[str]) -> list[str]:
        for index in indexes:
            if not -len(record) <= index < len(record):
                raise client_error(
                    f"JSONPath {expression!r} selects index {index} of a record with {len(record)} fields"
                )
        selected: list[str] = []
        for path in paths:
            for found in path.find(record):
                value = found.value
                if isinstance(value, list):
                    selected.extend(value)
                else:
                    selected.append(value)
        return selected

    return select


def split_records(body: bytes) -> list[str]:
    """The object's records: CSV rows are lines whatever ``SplitType`` (it only changes the batching)."""
    text = body.decode("utf-8")
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def parse_record(line: str) -> list[str]:
    return next(csv.reader([line])) if line else []


def _to_csv(fields: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


def mini_batches(records: list[str], settings: TransformSettings) -> list[list[int]]:
    """Indexes of the records sent in each request."""
    if not records:
        return []
    if settings.split_type == "None":
        size = sum(len(r.encode()) + 1 for r in records)
        if size > settings.max_payload_bytes:
            raise client_error(
                f"Too much data for max payload size: the object is {size} bytes and SplitType is None; "
                "set SplitType Line or raise MaxPayloadInMB"
            )
        return [list(range(len(records)))]
    if settings.batch_strategy == "SingleRecord":
        return [[i] for i in range(len(records))]
    batches: list[list[int]] = []
    current: list[int] = []
    current_size = 0
    for index, record in enumerate(records):
        size = len(record.encode()) + 1
        if size > settings.max_payload_bytes:
            raise client_error(f"Too much data for max payload size: record {index + 1} is {size} bytes")
        if current and current_size + size > settings.max_payload_bytes:
            batches.append(current)
            current, current_size = [], 0
        current.append(index)
        current_size += size
    if current:
        batches.append(current)
    return batches


def transform_object(
    body: bytes,
    settings: TransformSettings,
    predict: Callable[[list[list[str]]], np.ndarray],
    serving: Serving,
) -> tuple[bytes, int]:
    """The ``.out`` object for one input object, and its record count.

    Each mini-batch's response is the container's (one line a prediction, the last ended too, unless
    selectable inference encodes it otherwise). ``AssembleWith: Line`` ends a response that does not end
    with a newline with one; ``None`` writes the responses as they are. With ``JoinSource: Input`` or an
    ``OutputFilter``, the response's lines are its output records (CSV).
    """
    records = split_records(body)
    input_filter = compile_filter(settings.input_filter)
    output_filter = compile_filter(settings.output_filter)
    fields = [parse_record(r) for r in records]
    pieces: list[str] = []
    for batch in mini_batches(records, settings):
        features = [input_filter(fields[i]) for i in batch]
        predictions = predict(features)
        if len(predictions) != len(batch):
            raise AlgorithmFailure(
                f"AlgorithmError: the model returned {len(predictions)} predictions for {len(batch)} records"
            )
        response = serving.response(predictions, settings.accept)
        if settings.join_source == "Input" or settings.output_filter.strip() != "$":
            lines = response.split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            if len(lines) != len(batch):
                raise client_error(
                    f"the response holds {len(lines)} lines for {len(batch)} records: JoinSource and "
                    "OutputFilter need one CSV line a record"
                )
            joined = [
                output_filter(
                    [*fields[i], *parse_record(line)]
                    if settings.join_source == "Input"
                    else parse_record(line)
                )
                for i, line in zip(batch, lines, strict=True)
            ]
            response = "".join(_to_csv(record) + "\n" for record in joined)
        if settings.assemble_with == "Line" and not response.endswith("\n"):
            response += "\n"
        pieces.append(response)
    return "".join(pieces).encode("utf-8"), len(records)
