"""Outbound message rules: what the Cloud API accepts on ``POST /{version}/{phone_number_id}/messages``,
as pydantic models per message type (see docs/outbound-messages.md)."""
