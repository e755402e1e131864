"""The bytes of a batch transform's ``.out`` object, pinned against the XGBoost container's serve code.

The container is aws/sagemaker-xgboost-container (tags v1.7-1 and v3.0-5, the 3.2 branch: the lines cited
are the same in all three unless a test says otherwise). SageMaker runs a transform job's container with
``SAGEMAKER_BATCH`` set. The model is replaced by fixed float32 predictions, so each expected byte string is
what the container's code makes of them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from offline.algorithm_errors import AlgorithmFailure
from offline.batch_transform import TransformSettings, transform_object
from offline.container_serve import Serving

BODY = b"1,2\n3,4\n5,6\n"
REGRESSION = np.array([0.1, 0.2, 0.3], dtype=np.float32)
# str() of each float32 widened to a Python float, as ``predictions.tolist()`` gives it.
LINES = "0.10000000149011612\n0.20000000298023224\n0.30000001192092896\n"


def fixed(predictions: np.ndarray) -> Callable[[list[list[str]]], np.ndarray]:
    """A model that answers each mini-batch with the next predictions, in order."""
    given = iter(predictions)

    def predict(rows: list[list[str]]) -> np.ndarray:
        return np.array([next(given) for _ in rows])

    return predict


def out(
    accept: str = "text/csv",
    predictions: np.ndarray = REGRESSION,
    serving: Serving | None = None,
    **settings: object,
) -> bytes:
    chosen = {"split_type": "Line", "assemble_with": "Line", "accept": accept, **settings}
    body, count = transform_object(
        BODY,
        TransformSettings(**chosen),  # type: ignore[arg-type]
        fixed(predictions),
        serving or Serving(objective="reg:squarederror"),
    )
    assert count == 3
    return body


# serve.py lines 240-242 (invocations): in batch mode the body is "\n".join(map(str, preds.tolist())) + "\n"
# whatever the Accept type; _parse_accept (lines 163-179) only refuses a type it does not know.
@pytest.mark.parametrize(
    "accept",
    [
        "text/csv",
        "text/csv; charset=utf-8",
        "application/json",
        "application/jsonlines",
        "application/x-recordio-protobuf",
        "*/*",
    ],
)
def test_plain_predictions_are_one_str_float_a_line_whatever_the_accept_type(accept: str) -> None:
    assert out(accept) == LINES.encode()


def test_every_mini_batch_response_ends_with_its_newline_so_assembled_lines_never_merge() -> None:
    # MultiRecord batches of one record (a 4-byte payload limit): three responses, one line each.
    assert out(max_payload_bytes=4) == LINES.encode()
    # AssembleWith None writes the responses as they come: each already ends with "\n" (serve.py line 242).
    assert out(assemble_with="None", batch_strategy="SingleRecord") == LINES.encode()


def test_a_multi_class_probability_row_is_written_as_its_list() -> None:
    rows = np.array([[0.1, 0.9], [0.5, 0.5], [0.25, 0.75]], dtype=np.float32)
    assert out(predictions=rows) == (b"[0.10000000149011612, 0.8999999761581421]\n[0.5, 0.5]\n[0.25, 0.75]\n")


def test_an_accept_type_the_container_does_not_know_fails_with_its_message() -> None:
    with pytest.raises(AlgorithmFailure) as excinfo:
        out("text/plain")
    # serve.py lines 175-178.
    assert excinfo.value.reason == (
        "ClientError: Accept type text/plain is not supported. Please use supported accept types: "
        "['application/json', 'application/jsonlines', 'application/x-recordio-protobuf', 'text/csv']."
    )


# Selectable inference: the model's SAGEMAKER_INFERENCE_OUTPUT (serve_utils.py get_selected_output_keys,
# get_selected_predictions, encode_selected_predictions; serve.py _handle_selectable_inference_response).
def selectable(objective: str, keys: str, version: str = "3.0-5", num_class: str = "") -> Serving:
    return Serving(objective, num_class, version, {"SAGEMAKER_INFERENCE_OUTPUT": keys})


def test_selected_regression_output_as_csv_lines_with_nan_for_a_key_the_objective_lacks() -> None:
    serving = selectable("reg:squarederror", "Predicted_Score, probability")
    assert out(serving=serving) == (
        b"0.10000000149011612,nan\n0.20000000298023224,nan\n0.30000001192092896,nan\n"
    )


def test_selected_output_as_json_is_one_document_a_response() -> None:
    serving = selectable("reg:squarederror", "predicted_score")
    # json.dumps({"predictions": [...]}), no newline of its own: AssembleWith Line adds it.
    one = '{{"predictions": [{{"predicted_score": {}}}]}}\n'
    expected = "".join(one.format(v) for v in LINES.split())
    assert out("application/json", serving=serving, batch_strategy="SingleRecord") == expected.encode()
    scores = ", ".join(f'{{"predicted_score": {v}}}' for v in LINES.split())
    assert out("application/json", serving=serving) == f'{{"predictions": [{scores}]}}\n'.encode()


def test_selected_output_as_jsonlines_is_one_object_a_line() -> None:
    serving = selectable("reg:squarederror", "predicted_score,raw_score")
    assert (
        out("application/jsonlines", serving=serving)
        == "".join(f'{{"predicted_score": {v}, "raw_score": NaN}}\n' for v in LINES.split()).encode()
    )


def test_selected_binary_output_quotes_lists_in_csv() -> None:
    serving = selectable("binary:logistic", "predicted_label,probabilities,labels")
    predictions = np.array([0.7, 0.2, 0.5], dtype=np.float32)
    # predicted_label is int(p > 0.5); probabilities [1.0 - p, p]; a list is written '"[...]"'.
    assert out(predictions=predictions, serving=serving) == (
        b'1,"[0.30000001192092896, 0.699999988079071]","[0, 1]"\n'
        b'0,"[0.7999999970197678, 0.20000000298023224]","[0, 1]"\n'
        b'0,"[0.5, 0.5]","[0, 1]"\n'
    )


def test_selected_multi_class_output_names_the_winning_class_and_its_probability() -> None:
    serving = selectable("multi:softprob", "predicted_label,probability,labels", num_class="3")
    rows = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]], dtype=np.float32)
    assert out(predictions=rows, serving=serving) == (
        b'1,0.699999988079071,"[0, 1, 2]"\n'
        b'0,0.6000000238418579,"[0, 1, 2]"\n'
        b'2,0.6000000238418579,"[0, 1, 2]"\n'
    )


def test_selectable_output_of_reg_absoluteerror_fails_on_1_7_1_only() -> None:
    # serve_utils.py VALID_OBJECTIVES: reg:absoluteerror was added after v1.7-1.
    with pytest.raises(AlgorithmFailure) as excinfo:
        out(serving=selectable("reg:absoluteerror", "predicted_score", version="1.7-1"))
    assert "Objective `reg:absoluteerror` unsupported for selectable inference predictions." in (
        excinfo.value.reason
    )
    assert out(serving=selectable("reg:absoluteerror", "predicted_score", version="3.2-0")) == LINES.encode()


def test_join_source_input_appends_each_selected_csv_line_to_its_record() -> None:
    serving = selectable("reg:squarederror", "predicted_score,probability")
    assert out(serving=serving, join_source="Input") == (
        b"1,2,0.10000000149011612,nan\n3,4,0.20000000298023224,nan\n5,6,0.30000001192092896,nan\n"
    )
    assert out(join_source="Input", output_filter="$[0,-1]") == (
        b"1,0.10000000149011612\n3,0.20000000298023224\n5,0.30000001192092896\n"
    )
