"""The validator comparison (bench/input_validation.py) at one round: its figures and what it compares."""

from __future__ import annotations

from bench import input_validation


def test_input_validation_benchmark_times_the_three_validators_and_their_package_size() -> None:
    result = input_validation.measure(1, log=lambda _: None)

    assert set(result["options"]) == {"generated", "fastjsonschema", "jsonschema"}
    for figures in result["options"].values():
        assert figures["seconds"]["repetitions"] == 1
        assert figures["seconds"]["median"] > 0
    sizes = {name: figures["package_bytes"] for name, figures in result["options"].items()}
    # The generated module is all the function ships; the libraries would add their own files.
    assert sizes["generated"] == input_validation.GENERATED.stat().st_size
    assert sizes["generated"] < sizes["fastjsonschema"] < sizes["jsonschema"]
