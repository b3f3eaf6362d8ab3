"""The rollback stage's evidence: ``reports/rollback.json``, written by the rollback drill
(:class:`easymo_qa.cutover.RollbackDrill`) and read by the sign-off; here, outside both, so the drill
never imports the sign-off.

The drill (``tests/cutover``, marker ``rollback``) flips ``FEATURE_AI_AGENTS`` off under a load of
conversations and measures flip → every user served by the legacy flow, then the same for restoring it.
The schema is documented in ``docs/signoff-schema.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from easymo_qa.gates import Measurement
from easymo_qa.result_file import Count, ResultFile

ROLLBACK_SCHEMA = "easymo-qa/rollback/v1"
ROLLBACK_FILE = "rollback.json"
Seconds = Annotated[float, Field(ge=0)]


class RollbackResultError(ValueError):
    """The drill's result cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class RollbackResult(ResultFile):
    SCHEMA, FILE, WHAT, ERROR = ROLLBACK_SCHEMA, ROLLBACK_FILE, "rollback result", RollbackResultError

    rollback_seconds: Seconds | None  # flag flipped off → every user served by legacy; None: never reached
    restore_seconds: Seconds | None  # flag flipped back on → every user served by the AI agents again
    messages: Count  # messages the drill's users sent
    lost: Count  # messages that got no reply
    users: Count = 0
    duplicated: Count = 0  # replies beyond one per message
    unexpected: Count = 0  # replies that were neither the AI agents' nor the legacy flow's
    interval_seconds: float | None = None  # each user's pace
    flag: str = "FEATURE_AI_AGENTS"
    environment: str = ""
    measured_at: str = ""
    source: str = ""
    schema: str = ROLLBACK_SCHEMA

    def measurements(self) -> dict[str, Measurement]:
        src = self.source or "rollback drill"
        restore = "never" if self.restore_seconds is None else f"{self.restore_seconds:g} s"
        detail = (
            f"{src}: {self.flag}=false → all {self.users} users on the legacy flow; restored in {restore}; "
            f"{self.messages} messages, {self.lost} lost"
        )
        during = f"{src}: {self.messages} messages from {self.users} users across both flips"
        return {
            "rollback.seconds": Measurement(
                self.rollback_seconds, max(self.users, 1) if self.rollback_seconds is not None else 0, detail
            ),
            # Lost and duplicated messages during the flip count, not only its time.
            "rollback.lost": Measurement(
                float(self.lost), self.messages, f"{during}: {self.lost} got no reply"
            ),
            "rollback.duplicated": Measurement(
                float(self.duplicated), self.messages, f"{during}: {self.duplicated} extra replies"
            ),
            "rollback.unexpected": Measurement(
                float(self.unexpected),
                self.messages,
                f"{during}: {self.unexpected} replies from neither the AI agents nor the legacy flow",
            ),
        }
