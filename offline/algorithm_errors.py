"""The failure a training job or inference request of the built-in XGBoost container ends with."""

from __future__ import annotations


class AlgorithmFailure(Exception):
    """A training job or inference request the container would fail; ``reason`` is SageMaker's text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def client_error(message: str) -> AlgorithmFailure:
    """The user's mistake, as SageMaker's FailureReason shows it."""
    return AlgorithmFailure(f"ClientError: {message}")
