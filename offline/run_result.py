"""What an offline execution returned, and its history read as the tests and the report read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunResult:
    execution_arn: str
    name: str
    status: str
    input: Any
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The one JSON object the offline run prints last."""
        if self.status == "SUCCEEDED":
            return {"status": self.status, "output": self.output}
        return {"status": self.status, "error": self.error, "cause": self.cause}

    def events(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.history if e["type"] == event_type]

    def states_entered(self) -> list[str]:
        return [
            e["stateEnteredEventDetails"]["name"] for e in self.history if e["type"].endswith("StateEntered")
        ]

    def state_of_event(self) -> dict[int, str]:
        """Event id -> name of the state it belongs to."""
        current: str | None = None
        owner: dict[int, str] = {}
        for event in self.history:
            if event["type"].endswith("StateEntered"):
                current = event["stateEnteredEventDetails"]["name"]
            if current is not None:
                owner[event["id"]] = current
        return owner

    def task_failures(self, state: str) -> list[dict[str, Any]]:
        """The TaskFailed details of ``state``, in order (retried attempts first)."""
        owner = self.state_of_event()
        return [
            e["taskFailedEventDetails"]
            for e in self.history
            if e["type"] == "TaskFailed" and owner.get(e["id"]) == state
        ]

    def attempts(self, state: str) -> int:
        owner = self.state_of_event()
        return sum(1 for e in self.history if e["type"] == "TaskScheduled" and owner.get(e["id"]) == state)
