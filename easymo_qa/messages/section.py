"""What the sign-off takes from the message inventory: the ``messages.unapproved`` metric (gate
``messages_approved``) and the data of the report's "Messages" section (``templates/messages.*.j2``)."""

from __future__ import annotations

from typing import Any

from easymo_qa.gates import Measurement
from easymo_qa.messages.approved import Review
from easymo_qa.messages.inventory import Inventory

METRIC = "messages.unapproved"
SHOWN = 50  # unapproved messages the report lists with their diff; messages.md has every one


def measurement(inventory: Inventory, review: Review) -> Measurement:
    """Unapproved messages among the distinct ones the bot sent; no message sent is no evidence."""
    if not len(inventory):
        return Measurement(None, 0, "no message inventory: no test received a reply")
    changed = len(review.changed)
    return Measurement(
        float(len(review.unapproved)),
        len(inventory),
        f"message inventory: {len(inventory)} distinct messages, {len(review.approved)} approved, "
        f"{len(review.unapproved)} unapproved ({changed} changed, {len(review.unapproved) - changed} new)",
    )


def report_section(
    inventory: Inventory, review: Review, *, approved_file: str, files: list[str]
) -> dict[str, Any]:
    """The report's ``messages`` object (docs/signoff-schema.md): counts, and the first unapproved diffs."""
    data = review.to_dict()
    unapproved = data.pop("unapproved_messages")
    return {
        **data,
        "sent": sum(e.count for e in inventory.entries.values()),
        "approved_file": approved_file,
        "files": files,
        "unapproved_messages": unapproved[:SHOWN],
        "unapproved_shown": min(len(unapproved), SHOWN),
    }
