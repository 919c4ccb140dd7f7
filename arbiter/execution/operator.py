"""The operator's switches for one tenant (start/stop/pause/resume, per pair or all), consulted
before each saga launch and kept in the tenant's journal so they survive a restart (ADR 0142).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OPERATOR_STATE", "OperatorState"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class OperatorState:
    """What an operator switched for one tenant; consulted before each saga launch."""

    running: bool = True
    paused_all: bool = False
    paused_pairs: set[str] = field(default_factory=set)
    stopped_pairs: set[str] = field(default_factory=set)

    def refusal(self, pair: str) -> str | None:
        """Why a new saga on ``pair`` may not start ("stopped", "paused"), or None."""
        if not self.running or pair in self.stopped_pairs:
            return "stopped"
        if self.paused_all or pair in self.paused_pairs:
            return "paused"
        return None

    def apply(self, action: str, pair: str | None) -> bool:
        """Apply an operator action (start/stop/pause/resume, one pair or all); True if it
        changed anything."""
        before = (self.running, self.paused_all, set(self.paused_pairs), set(self.stopped_pairs))
        if action == "start":
            if pair is None:
                self.running = True
                self.stopped_pairs.clear()
            else:
                self.stopped_pairs.discard(pair)
        elif action == "stop":
            if pair is None:
                self.running = False
            else:
                self.stopped_pairs.add(pair)
        elif action == "pause":
            if pair is None:
                self.paused_all = True
            else:
                self.paused_pairs.add(pair)
        elif action == "resume":
            if pair is None:
                self.paused_all = False
                self.paused_pairs.clear()
            else:
                self.paused_pairs.discard(pair)
        else:
            raise ValueError(action)
        return before != (self.running, self.paused_all, self.paused_pairs, self.stopped_pairs)

    def to_json(self) -> dict[str, Any]:
        return {"running": self.running, "paused_all": self.paused_all,
                "paused_pairs": sorted(self.paused_pairs), "stopped_pairs": sorted(self.stopped_pairs)}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> OperatorState:
        return cls(bool(body.get("running", True)), bool(body.get("paused_all", False)),
                   {str(p) for p in body.get("paused_pairs", [])},
                   {str(p) for p in body.get("stopped_pairs", [])})


#: the journal log kind of the operator's switches (one row per change, the last one counts)
OPERATOR_STATE = "operator_state"

