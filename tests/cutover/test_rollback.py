"""The rollback drill (cutover plan §4.2): FEATURE_AI_AGENTS=false under load, then back on.

20 users search every 100 ms or so (slower when the environment's rate limit needs it) while the flag is
flipped through the environment's flag control. Time-to-rollback is flag flipped → the moment the last
user was switched to the legacy flow (after that, every reply to everyone is the legacy one); the same for
restoring it. Every message must get exactly one reply across both flips. The result goes to
``reports/rollback.json``, which the sign-off reads into its ``rollback_time`` gate (target < 10 min).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from easymo_qa.cutover import RollbackDrill
from easymo_qa.flags import AI_AGENTS, BUYER_AGENT, ROLLOUT_PERCENTAGE, FlagClient
from easymo_qa.rollback import ROLLBACK_FILE
from easymo_qa.target import Target
from easymo_qa.whatsapp.numbers import TestNumberPool
from easymo_qa.whatsapp.replies import ReplyReader
from easymo_qa.whatsapp.user import WhatsAppUser

pytestmark = [pytest.mark.rollback, pytest.mark.easymo, pytest.mark.needs("flags")]

USERS = 20
FASTEST_INTERVAL = 0.1
PHASE_LIMIT_SECONDS = 60.0  # per flip; the cutover target is 600 s, a local flip takes well under 1 s
TARGET_SECONDS = 600.0


def pace(target: Target) -> float:
    """Seconds between one user's messages: 100 ms, or slower so the SUT's rate limit never kicks in."""
    limit = target.setting("RATE_LIMIT_PER_USER", 60)
    window = target.setting("RATE_LIMIT_WINDOW_SECONDS", 60)
    return FASTEST_INTERVAL if limit <= 0 else max(FASTEST_INTERVAL, 1.25 * window / limit)


@pytest.mark.rule("R-ROLL-3", "R-FLAG-2")
def test_rollback_drill_under_load(
    flags: FlagClient,
    target: Target,
    http_client: httpx.Client,
    number_pool: TestNumberPool,
    reports_dir: Path,
) -> None:
    flags.set({AI_AGENTS: True, ROLLOUT_PERCENTAGE: 100, BUYER_AGENT: True})
    users = [
        WhatsAppUser(target, http_client, number_pool.next(), role="buyer", name=f"Drill {i}")
        for i in range(USERS)
    ]
    assert target.graph_api_url
    interval = pace(target)
    drill = RollbackDrill(
        users,
        flags,
        ReplyReader(http_client, target.graph_api_url),
        interval=interval,
        phase_limit=PHASE_LIMIT_SECONDS,
        max_messages=int(3 * PHASE_LIMIT_SECONDS / interval) + 10,
        reply_seconds=target.reply_seconds,
        quiet_seconds=target.no_reply_seconds,
    )
    result = drill.run(target.env_name)
    result.write(reports_dir / ROLLBACK_FILE)
    lanes = "\n  ".join(drill.lane_report())

    assert drill.completed["warm"], f"not every user was served by the AI agents before the flip:\n  {lanes}"
    assert result.rollback_seconds is not None, (
        f"{AI_AGENTS}=false: not every user reached the legacy flow within {PHASE_LIMIT_SECONDS:g} s"
        f":\n  {lanes}"
    )
    assert result.restore_seconds is not None, (
        f"{AI_AGENTS}=true again: not every user was back on the AI agents within {PHASE_LIMIT_SECONDS:g} s"
        f":\n  {lanes}"
    )
    assert (result.lost, result.duplicated, result.unexpected) == (0, 0, 0), (
        f"{result.messages} messages: {result.lost} without a reply, {result.duplicated} extra replies, "
        f"{result.unexpected} replies from neither flow:\n  {lanes}"
    )
    assert result.rollback_seconds < TARGET_SECONDS
    if target.has("observability"):
        assert_each_message_handled_once(http_client, target, drill)


def assert_each_message_handled_once(http_client: httpx.Client, target: Target, drill: RollbackDrill) -> None:
    """The SUT's own events agree: one ``message_handled`` with one reply per message sent."""
    for lane in drill.lanes:
        response = http_client.get(
            f"{target.admin_url}/admin/events",
            params={"phone": lane.user.phone, "name": "message_handled", "limit": 1000},
            headers={"X-Admin-Token": target.admin_token or ""},
        )
        assert response.status_code == 200, response.text[:300]
        handled = response.json()["events"]
        replies = [e["data"].get("replies") for e in handled]
        assert len(handled) == len(lane.sent), (
            f"{lane.user.phone}: sent {len(lane.sent)} messages, the SUT handled {len(handled)}"
        )
        assert set(replies) <= {1}, f"{lane.user.phone}: replies per handled message: {replies}"
