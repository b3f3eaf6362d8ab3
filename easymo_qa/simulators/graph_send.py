"""What the Graph API simulator does with the body of ``POST /{version}/{phone_number_id}/messages`` once
Meta's preliminary checks passed: validate it, deliver it to the simulated user it names, answer like Meta.

:func:`make_send_handler` is the fault-free handler; :func:`with_faults` puts the fault plane in front of
it (op ``messages``, key the recipient's phone digits, whether the SUT addressed him by phone or BSUID).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from easymo_qa.simulators.faults import FaultPlane, invalid_json, shared_answer
from easymo_qa.simulators.graph_errors import fault_error, unknown_recipient_error, violations_error
from easymo_qa.simulators.graph_recipients import Address, address_of, owner_of_message
from easymo_qa.simulators.outbox import Outbox
from easymo_qa.whatsapp import payloads
from easymo_qa.whatsapp.rules.request import is_status_update, validate_outbound


@dataclass(frozen=True)
class GraphReply:
    """What the messages endpoint answers: an HTTP status and Meta's JSON body.

    ``fault`` is the id of the fault rule that decided the answer; ``response``, when set, is sent as is
    instead of ``payload`` (a fault's malformed body or reset).
    """

    status: int
    payload: dict[str, Any]
    fault: str | None = None
    response: Response | None = None


SendHandler = Callable[[dict[str, Any]], Awaitable[GraphReply]]


def accepted(address: Address, wamid: str) -> dict[str, Any]:
    """Meta's 200 answer to a sent message; one sent to a BSUID names its ``user_id`` (no ``wa_id``)."""
    if address.addressed_by == "bsuid":
        contact = {"input": address.input, "user_id": address.input}
    else:
        contact = {"input": address.input, "wa_id": address.phone}
    return {"messaging_product": "whatsapp", "contacts": [contact], "messages": [{"id": wamid}]}


def outbound_wamid(address: Address) -> str:
    """A new id for a message to ``address``. Its chat field is what the SUT addressed: a BSUID stays a
    BSUID, so an id never tells the SUT the phone of a user it knows only by BSUID."""
    chat = address.input if address.addressed_by == "bsuid" else address.phone
    return payloads.new_wamid(chat, outbound=True)


def make_send_handler(outbox: Outbox) -> SendHandler:
    """The fault-free handler: validate the message, then record it and answer like Meta."""

    async def send(body: dict[str, Any]) -> GraphReply:
        violations = validate_outbound(body)
        if violations:
            return GraphReply(violations[0].http_status, violations_error(violations))
        if is_status_update(body):
            # Mark as read, with a typing indicator or not: nothing reaches the chat, the user sees ticks
            # turn blue (and "typing…"). Recorded as an event of the user whose message it names.
            message_id = body["message_id"]
            kind = "typing" if body.get("typing_indicator") else "read"
            outbox.record_event(kind=kind, to=owner_of_message(message_id), message_id=message_id, body=body)
            return GraphReply(200, {"success": True})
        address = address_of(body)
        if not address.phone:  # a well-formed BSUID of nobody the simulator plays
            return GraphReply(400, unknown_recipient_error(address.input))
        wamid = outbound_wamid(address)
        outbox.record_message(
            wamid=wamid,
            to=address.phone,
            kind=body.get("type") or "text",
            body=body,
            recipient=address.recipient,
            addressed_by=address.addressed_by,
        )
        return GraphReply(200, accepted(address, wamid))

    return send


# --- faults ------------------------------------------------------------------------------------------------

FAULT_OPS = {"messages": ("status", "delay", "hang", "malformed", "reset", "drop")}


def with_faults(send: SendHandler, plane: FaultPlane) -> SendHandler:
    """``send`` behind the fault plane (op ``messages``, key the recipient's phone digits: a rule for a
    user hits a message addressed to his phone and one addressed to his BSUID alike)."""
    garbage = invalid_json(accepted(Address("250700000000", "phone", "250700000000"), "wamid.simulated"))

    async def faulted_send(body: dict[str, Any]) -> GraphReply:
        address = address_of(body)
        rule = plane.take("messages", address.phone or None)
        if rule is None:
            return await send(body)
        if rule.action == "drop":
            return GraphReply(200, accepted(address, outbound_wamid(address)), fault=rule.id)
        answer = await shared_answer(rule, fault_error, garbage)
        if answer is None:  # delayed; the message then goes through as usual
            return await send(body)
        return GraphReply(answer.status, answer.payload or {}, fault=rule.id, response=answer.response)

    return faulted_send
