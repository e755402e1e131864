"""The first function's own-data check and the emulator read the same files alike.

The emulator reads channels as the XGBoost container does (csv.Sniffer, then XGBoost's CSV reader); the
first function checks own data before any job is billed. Fed the same files, they accept the same ones and
name the same line for a fault. The one deliberate difference: text in a numeric column (a header row, a
typo) is refused by the first function, while the container reads it silently as a missing value.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from offline import channels, xgboost_algorithm
from offline.template import ROOT

pytestmark = pytest.mark.filterwarnings("ignore:.*Text file input has been deprecated")

ROWS = 6_000
URI = "s3://bucket/datasets/train.csv"


def _own_data() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "own_data_under_test", ROOT / "functions" / "generate_dataset" / "own_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


own_data = _own_data()


class _Body:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def iter_chunks(self, size: int) -> Any:
        # Small chunks, so that lines straddle chunk boundaries.
        for start in range(0, len(self.body), 4096):
            yield self.body[start : start + 4096]

    def close(self) -> None:
        pass


class _Client:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def get_object(self, **_: Any) -> dict[str, Any]:
        return {"Body": _Body(self.body)}


def lines(replace: dict[int, str] | None = None, tail: str = "") -> bytes:
    """ROWS lines of label and three features; ``replace`` maps a line number (from 1) to its text."""
    text = [f"{i % 7}.5,{i}.25,-{i % 11},{i % 3}e-2" for i in range(ROWS)]
    for number, line in (replace or {}).items():
        text[number - 1] = line
    return ("\n".join(text) + "\n" + tail).encode()


def first_function(body: bytes) -> int:
    return own_data.check_file(_Client(body), own_data.S3Object("trainUri", "bucket", "datasets/train.csv"))


def emulator(body: bytes) -> channels.ChannelData:
    data = channels.read_channel([(URI, body)], {"ChannelName": "train", "ContentType": "text/csv"})
    assert data is not None
    return data


def emulator_trains(data: channels.ChannelData) -> None:
    config = xgboost_algorithm.parse_hyperparameters({"num_round": "2", "objective": "reg:squarederror"})
    xgboost_algorithm.train(config, data, None)


@pytest.mark.parametrize(
    ("case", "body", "rows"),
    [
        ("empty field deep in the file", lines({5_000: "1.5,,2,3"}), ROWS),
        ("nan feature", lines({4_321: "1.5,nan,2,3"}), ROWS),
        ("trailing blank lines", lines(tail="\n\n\r\n"), ROWS),
        ("blank line in the middle", lines({3_001: ""}), ROWS - 1),
        ("windows line ends", lines().replace(b"\n", b"\r\n"), ROWS),
        ("no final newline", lines()[:-1], ROWS),
    ],
)
def test_both_accept_what_the_container_reads(case: str, body: bytes, rows: int) -> None:
    assert first_function(body) == 4, case
    data = emulator(body)
    assert data.rows == rows and data.label_fault is None, case
    emulator_trains(data)


def test_an_empty_field_is_a_missing_value_for_the_emulator() -> None:
    data = emulator(lines({5_000: "1.5,,2,3"}))
    assert np.isnan(data.features[4_999, 0]) and data.features[4_999, 1] == 2.0
    assert int(np.isnan(data.features).sum()) == 1


@pytest.mark.parametrize(
    ("case", "line", "first_says", "emulator_says"),
    [
        ("NaN label", "nan,1,2,3", "line 3001, column 1: label 'nan' is not a finite number", "line 3001"),
        (
            "infinite label",
            "inf,1,2,3",
            "line 3001, column 1: label 'inf' is not a finite number",
            "line 3001",
        ),
        ("infinite value", "1,2,-inf,3", "line 3001, column 3: '-inf' is infinite", "line 3001, column 3"),
        ("no delimiter", "12", "line 3001: 1 column", "line 3001: no ',' delimiter"),
        ("spaces only", "   ", "line 3001: 1 column", "line 3001: no ',' delimiter"),
    ],
)
def test_both_refuse_bad_data_deep_in_a_file_naming_file_and_line(
    case: str, line: str, first_says: str, emulator_says: str
) -> None:
    body = lines({3_001: line})
    with pytest.raises(own_data.OwnDataInvalid) as refused:
        first_function(body)
    assert f"data.trainUri {URI} {first_says}" in str(refused.value), case

    with pytest.raises(xgboost_algorithm.AlgorithmFailure) as failed:
        emulator_trains(emulator(body))
    reason = failed.value.reason
    assert f"{URI} {emulator_says}" in reason, case
    assert "Stack trace" not in reason and "[bt]" not in reason


def test_a_nan_label_fails_the_training_as_an_algorithm_error() -> None:
    data = emulator(lines({3_001: "nan,1,2,3"}))
    assert data.label_fault == f"{URI} line 3001: label 'nan' is not a finite number"
    with pytest.raises(xgboost_algorithm.AlgorithmFailure) as failed:
        emulator_trains(data)
    assert failed.value.reason.startswith("AlgorithmError: XGB train call failed with exception:")


def test_text_is_refused_first_though_the_container_would_read_it_as_missing() -> None:
    body = lines({3_001: "1,2,three,4"})
    with pytest.raises(own_data.OwnDataInvalid, match=r"line 3001, column 3: 'three' is not a number"):
        first_function(body)
    data = emulator(body)
    assert np.isnan(data.features[3_000, 1])


def test_a_header_row_is_named_as_such_first_and_read_as_label_zero_by_the_container() -> None:
    body = b"price,rooms,area,age\n" + lines()
    with pytest.raises(own_data.OwnDataInvalid, match="a header row"):
        first_function(body)
    data = emulator(body)
    assert data.labels[0] == 0.0 and np.isnan(data.features[0]).all()
