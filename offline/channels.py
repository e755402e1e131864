"""Training channels as the XGBoost container reads them (File mode).

Our reading of the container's channel_validation.py (its own and the algorithm toolkit's) and data_utils.py:

- channels: ``train`` (required), ``validation``, ``code``; any other name is refused ("Extraneous channel
  found"). A channel without ContentType is ``text/libsvm``. The ContentType string, the input mode and the
  S3 distribution must be one of the combinations the container declares, compared as given: ``text/csv``
  and ``csv`` pass, ``text/csv; label_size=1`` does not (the container's own content-type parser would
  accept that parameter, but its channel check runs first and compares the whole string);
- a file whose name starts with ``.`` anywhere in a channel fails the job ("Hidden file found");
- CSV: the delimiter is what Python's ``csv.Sniffer`` finds in the first line of a file (every file's
  first line must give one; the first file's is used for all), then XGBoost's own CSV reader parses the
  files: label in the first column (weights in the second with ``csv_weights=1``), an empty or non-numeric
  field is a missing value (a non-numeric label reads as 0), blank lines are skipped, a line without the
  delimiter or an infinite feature fails the load; a NaN or infinite label fails the training;
- libsvm: XGBoost's libsvm reader;
- CompressionType: in File mode SageMaker copies objects as they are (compression applies to Pipe mode),
  so a gzip object in a File-mode channel is read as the bytes it holds.

Faults name the file and the line. XGBoost's reader is the one the container runs; this module only adds
where a fault is, which XGBoost does not say.
"""

from __future__ import annotations

import csv
import math
import os
import re
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xgboost as xgb

from offline.algorithm_errors import client_error

CHANNEL_DIR = "/opt/ml/input/data"
_LOG_PREFIX = re.compile(r"^\[[0-9:]+\] [^ ]+:[0-9]+: ")
DEFAULT_CONTENT_TYPE = "text/libsvm"
# data_utils.py VALID_CONTENT_TYPES and VALID_PIPED_CONTENT_TYPES.
CONTENT_TYPES = (
    "csv",
    "libsvm",
    "parquet",
    "recordio-protobuf",
    "text/csv",
    "text/libsvm",
    "text/x-libsvm",
    "application/x-parquet",
    "application/x-recordio-protobuf",
)
PIPED_CONTENT_TYPES = (
    "csv",
    "parquet",
    "recordio-protobuf",
    "text/csv",
    "application/x-parquet",
    "application/x-recordio-protobuf",
)
_FORMATS = {
    "csv": "csv",
    "text/csv": "csv",
    "libsvm": "libsvm",
    "text/libsvm": "libsvm",
    "text/x-libsvm": "libsvm",
    "parquet": "parquet",
    "application/x-parquet": "parquet",
    "recordio-protobuf": "recordio-protobuf",
    "application/x-recordio-protobuf": "recordio-protobuf",
}
_DISTRIBUTIONS = ("ShardedByS3Key", "FullyReplicated")


# --- channel configuration ------------------------------------------------------------------------------


def _supported(name: str, content_type: str, mode: str, distribution: str) -> bool:
    if distribution not in _DISTRIBUTIONS:
        return False
    if name == "code":
        return (content_type, mode, distribution) == ("text/python", "File", "FullyReplicated")
    if mode == "File":
        return content_type in CONTENT_TYPES
    if mode == "Pipe":
        return content_type in PIPED_CONTENT_TYPES
    return False


def check_channels(input_data_config: Sequence[Mapping[str, Any]], input_mode: str = "File") -> None:
    """The container's channel check (before it reads any data); AlgorithmFailure as it reports it."""
    names = [c["ChannelName"] for c in input_data_config]
    if "train" not in names:
        raise client_error("Missing required channel: train")
    for channel in input_data_config:
        name = channel["ChannelName"]
        if name not in ("train", "validation", "code"):
            raise client_error(f"Extraneous channel found: {name}")
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        value = {
            "ContentType": channel.get("ContentType") or DEFAULT_CONTENT_TYPE,
            "TrainingInputMode": channel.get("InputMode") or input_mode,
            "S3DistributionType": source.get("S3DataDistributionType") or "FullyReplicated",
            "RecordWrapperType": channel.get("RecordWrapperType") or "None",
        }
        if not _supported(
            name, value["ContentType"], value["TrainingInputMode"], value["S3DistributionType"]
        ):
            raise client_error(f"Channel configuration for '{name}' channel is not supported: {value}")


def content_format(content_type: str | None) -> str:
    """data_utils.get_content_type: csv | libsvm | parquet | recordio-protobuf (no ContentType: libsvm)."""
    if content_type is None:
        return "libsvm"
    media, _, rest = content_type.lower().partition(";")
    media = media.strip()
    params = dict(
        (key.strip(), value.strip())
        for key, _, value in (p.partition("=") for p in rest.split(";") if p.strip())
    )
    if media in ("csv", "text/csv"):
        if "label_size" in params and params["label_size"] != "1":
            raise client_error(
                f"{content_type} is not an accepted csv ContentType. Optional parameter label_size must be "
                "equal to 1"
            )
        return "csv"
    if media in _FORMATS:
        return _FORMATS[media]
    raise client_error(f"{content_type} is not an accepted ContentType: {', '.join(CONTENT_TYPES)}.")


# --- records --------------------------------------------------------------------------------------------


@dataclass
class ChannelData:
    """A channel's records: features (NaN where missing), labels and (with csv_weights=1) weights.

    ``label_fault``: where a label is NaN or infinite (file and line), which fails the training.
    """

    features: np.ndarray
    labels: np.ndarray
    weights: np.ndarray | None = None
    label_fault: str | None = None
    _dmatrix: dict[tuple[int, int], xgb.DMatrix] = field(default_factory=dict, repr=False)

    @property
    def rows(self) -> int:
        return int(self.features.shape[0])

    def dmatrix(self, nthread: int) -> xgb.DMatrix:
        # Built once per channel and thread, and reused by every trial that thread runs: XGBoost keeps its
        # histogram index with the DMatrix, and builds it lazily (so threads do not share one).
        key = (nthread, threading.get_ident())
        if key not in self._dmatrix:
            self._dmatrix[key] = xgb.DMatrix(
                self.features, label=self.labels, weight=self.weights, nthread=nthread
            )
        return self._dmatrix[key]

    def subset(self, rows: np.ndarray) -> ChannelData:
        return ChannelData(
            features=self.features[rows],
            labels=self.labels[rows],
            weights=None if self.weights is None else self.weights[rows],
        )

    def concat(self, other: ChannelData) -> ChannelData:
        width = max(self.features.shape[1], other.features.shape[1])
        weights = None
        if self.weights is not None and other.weights is not None:
            weights = np.concatenate([self.weights, other.weights])
        return ChannelData(
            features=np.vstack([_widen(self.features, width), _widen(other.features, width)]),
            labels=np.concatenate([self.labels, other.labels]),
            weights=weights,
            label_fault=self.label_fault or other.label_fault,
        )


def _widen(array: np.ndarray, width: int) -> np.ndarray:
    if array.shape[1] == width:
        return array
    wider = np.full((array.shape[0], width), np.nan, dtype=np.float32)
    wider[:, : array.shape[1]] = array
    return wider


def read_channel(
    files: Sequence[tuple[str, bytes]], channel: Mapping[str, Any], csv_weights: int = 0
) -> ChannelData | None:
    """The records of a channel's files in File mode, as the container reads them; None if they hold none.

    ``files``: (name, body) in the order the channel lists them; ``channel``: its InputDataConfig entry.
    """
    name = channel["ChannelName"]
    for path, _ in files:
        if os.path.basename(path).startswith("."):
            raise client_error("Hidden file found in the data path! Remove that before training.")
    if not any(body for _, body in files):
        return None
    fmt = content_format(channel.get("ContentType") or DEFAULT_CONTENT_TYPE)
    if fmt == "csv":
        data = _read_csv(files, csv_weights)
    elif fmt == "libsvm":
        data = _read_libsvm(files)
    else:
        raise client_error(
            f"ContentType {channel.get('ContentType')} of channel {name}: the offline emulator reads csv "
            "and libsvm; parquet and recordio-protobuf are not emulated"
        )
    if data.rows == 0:
        raise client_error(
            "Got input data without labels. Please check the input data set. If training job is running on "
            "multiple instances, please switch to using single instance if number of records in the data "
            "set is less than number of workers (16 * number of instance) in the cluster."
        )
    return data


def csv_delimiter(first_line: str) -> str:
    """The delimiter the container uses: csv.Sniffer's guess on the first line."""
    try:
        return csv.Sniffer().sniff(first_line).delimiter
    except csv.Error as e:
        raise client_error(f"Could not determine delimiter on line {first_line[:50]}:\n{e}") from None


def _first_line(body: bytes) -> str:
    return body.split(b"\n", 1)[0].decode("utf-8", errors="ignore") + ("\n" if b"\n" in body else "")


def _read_csv(files: Sequence[tuple[str, bytes]], csv_weights: int) -> ChannelData:
    # The container checks the first line of every data file, an empty one too (names starting with "_"
    # are not data files), then reads all of them with the first file's delimiter.
    for path, body in files:
        if not os.path.basename(path).startswith("_"):
            csv_delimiter(_first_line(body))
    data_files = [(path, body) for path, body in files if body]
    delimiter = csv_delimiter(_first_line(data_files[0][1]))
    parts = [_read_csv_file(path, body, delimiter, csv_weights) for path, body in data_files]
    width = max(p.features.shape[1] for p in parts)
    return ChannelData(
        features=np.vstack([_widen(p.features, width) for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        weights=np.concatenate([p.weights for p in parts]) if csv_weights else None,  # type: ignore[misc]
        label_fault=next((p.label_fault for p in parts if p.label_fault), None),
    )


def _xgboost_read(body: bytes, uri_options: str) -> xgb.DMatrix:
    with tempfile.TemporaryDirectory(prefix="offline-channel-") as directory:
        path = os.path.join(directory, "part")
        with open(path, "wb") as out:
            out.write(body)
        # XGBoost 3.1 deprecated reading text files by URI and says so at every read; the container reads
        # them so. The configuration context is per thread, as jobs are.
        with xgb.config_context(verbosity=0):
            return xgb.DMatrix(f"{path}?{uri_options}", nthread=1)


def _dense(matrix: xgb.DMatrix) -> np.ndarray:
    """The DMatrix's values with NaN where a value is missing."""
    sparse = matrix.get_data()
    dense = np.full((matrix.num_row(), matrix.num_col()), np.nan, dtype=np.float32)
    rows = np.repeat(np.arange(matrix.num_row()), np.diff(sparse.indptr))
    dense[rows, sparse.indices] = sparse.data
    return dense


def _read_csv_file(path: str, body: bytes, delimiter: str, csv_weights: int) -> ChannelData:
    options = f"format=csv&label_column=0&delimiter={delimiter}" + ("&weight_column=1" if csv_weights else "")
    try:
        matrix = _xgboost_read(body, options)
    except xgb.core.XGBoostError as e:
        message = xgboost_message(e)
        where = locate_csv_fault(body, delimiter)
        raise client_error(
            f"Failed to load csv data with exception:\n{message}" + (f" ({path} {where})" if where else "")
        ) from None
    labels = matrix.get_label()
    fault = None
    bad = np.flatnonzero(~np.isfinite(labels))
    if bad.size:
        line, text = _record_line(body, int(bad[0]))
        fault = f"{path} line {line}: label {text.split(delimiter, 1)[0].strip()!r} is not a finite number"
    return ChannelData(
        features=_dense(matrix),
        labels=labels,
        weights=matrix.get_weight() if csv_weights else None,
        label_fault=fault,
    )


def _read_libsvm(files: Sequence[tuple[str, bytes]]) -> ChannelData:
    parts = []
    for path, body in files:
        if not body:
            continue
        try:
            matrix = _xgboost_read(body, "format=libsvm")
        except xgb.core.XGBoostError as e:
            raise client_error(
                f"Failed to load libsvm data with exception:\n{xgboost_message(e)} ({path})"
            ) from None
        parts.append(ChannelData(features=_dense(matrix), labels=matrix.get_label()))
    width = max(p.features.shape[1] for p in parts)
    return ChannelData(
        features=np.vstack([_widen(p.features, width) for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
    )


def xgboost_message(error: Exception) -> str:
    """XGBoost's message without its C++ stack trace and its log prefix (time, source file and line)."""
    text = str(error).split("Stack trace:")[0].strip()
    return _LOG_PREFIX.sub("", text)


def _lines(body: bytes) -> list[tuple[int, str]]:
    """(line number, text) of the lines XGBoost's CSV reader reads: empty lines are skipped."""
    found = []
    for number, raw in enumerate(body.split(b"\n"), start=1):
        text = raw.rstrip(b"\r").decode("utf-8", errors="replace")
        if text:
            found.append((number, text))
    return found


def _record_line(body: bytes, record: int) -> tuple[int, str]:
    return _lines(body)[record]


def locate_csv_fault(body: bytes, delimiter: str) -> str | None:
    """Where XGBoost's CSV reader fails on ``body``: 'line N: what' for the first such line, else None."""
    for number, text in _lines(body):
        if delimiter not in text:
            return f"line {number}: no {delimiter!r} delimiter in {text[:40]!r}"
        for column, value in enumerate(text.split(delimiter)[1:], start=2):
            try:
                number_value = float(value)
            except ValueError:
                continue
            if math.isinf(number_value):
                return f"line {number}, column {column}: {value.strip()!r} is infinite"
    return None
