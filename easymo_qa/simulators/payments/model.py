"""What the SUT sends MoMo (pydantic models of the request-to-pay call) and what the simulator keeps of it.

Request shape, from MTN's Collection API reference
(https://momodeveloper.mtn.com/docs/services/collection/operations/requesttopay-POST): ``amount`` and
``currency`` (ISO 4217) as strings, ``externalId`` (the partner's reconciliation reference, not
necessarily unique), ``payer`` ``{"partyIdType", "partyId"}``, optional ``payerMessage`` / ``payeeNote``;
``X-Reference-Id`` is a UUID v4 naming the request. Stricter than MTN where a Rwandan marketplace bot
has no business differing: RWF only, whole francs, the payer an MSISDN.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from easymo_qa.simulators.faults import describe_validation_error

CURRENCY = "RWF"
Status = Literal["PENDING", "SUCCESSFUL", "FAILED"]


@dataclass
class PaymentsSimConfig:
    """Secrets and timing of the simulated MoMo account (``callback_secret`` first: it has no default)."""

    callback_secret: str
    api_key: str = ""  # "" accepts any bearer token
    approve_delay_seconds: float = 0.05  # how long the payer takes to approve when no rule says otherwise
    # Only the deployed server (easymo-qa simulators serve) calls back a bot on another machine.
    callbacks_off_machine: bool = False


class Party(BaseModel):
    """The payer. MTN also takes EMAIL and PARTY_CODE; the SUT may only ask a phone number to pay."""

    model_config = ConfigDict(strict=True, extra="ignore")

    party_id_type: Literal["MSISDN"] = Field(alias="partyIdType")
    party_id: str = Field(alias="partyId", pattern=r"^[0-9]{9,15}$")  # E.164 digits, no plus


class RequestToPay(BaseModel):
    """The ``POST /collection/v1_0/requesttopay`` body. Strict: a JSON number amount is a client bug."""

    model_config = ConfigDict(strict=True, extra="ignore")

    amount: str = Field(pattern=r"^[0-9]*[1-9][0-9]*$")  # whole francs above zero
    currency: Literal["RWF"]
    external_id: str = Field(alias="externalId", pattern=r"\S")
    payer: Party
    payer_message: str | None = Field(default=None, alias="payerMessage")
    payee_note: str | None = Field(default=None, alias="payeeNote")


# MoMo's error code for a bad field; any other problem is INVALID_REQUEST_BODY.
_FIELD_CODES = {"amount": "INVALID_AMOUNT", "currency": "INVALID_CURRENCY", "payer": "INVALID_PAYER"}


class BodyError(ValueError):
    """A request body MoMo would refuse; carries MoMo's error ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_request_to_pay(body: Any) -> RequestToPay:
    """The request-to-pay ``body`` (parsed JSON) as a model; BodyError coded after the first bad field."""
    try:
        return RequestToPay.model_validate(body)
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        code = _FIELD_CODES.get(str(loc[0]) if loc else "", "INVALID_REQUEST_BODY")
        raise BodyError(code, describe_validation_error(exc)) from None


def canonical_reference_id(value: str | None) -> str | None:
    """The lowercase canonical form of a UUID, or ``None`` when ``value`` is not one."""
    if not value:
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None


@dataclass
class Payment:
    """One request-to-pay and everything that happened to it."""

    reference_id: str
    request: RequestToPay
    callback_url: str | None
    target_environment: str | None
    requested_at: float = field(default_factory=time.time)
    status: Status = "PENDING"
    reason: str | None = None
    financial_transaction_id: str | None = None
    resolved_at: float | None = None
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    last_callback: bytes | None = None  # the exact bytes sent, so a redelivery is byte-identical
    faults: list[str] = field(default_factory=list)  # ids of the fault rules that touched this payment
    polls: int = 0  # GET requesttopay/{referenceId} calls the SUT made for this payment

    @property
    def msisdn(self) -> str:
        return self.request.payer.party_id

    def resolve(self, status: Status, reason: str | None) -> None:
        self.status = status
        self.reason = reason
        self.resolved_at = time.time()
        if status == "SUCCESSFUL":
            # MoMo's financial transaction ids are all digits; ten of them look the part.
            self.financial_transaction_id = str(1_000_000_000 + secrets.randbelow(9_000_000_000))

    def _money(self) -> dict[str, Any]:
        return {"amount": self.request.amount, "currency": self.request.currency}

    def _payer(self) -> dict[str, str]:
        return self.request.payer.model_dump(by_alias=True)

    def status_body(self) -> dict[str, Any]:
        """The ``GET /requesttopay/{referenceId}`` answer."""
        body = {**self._money(), "externalId": self.request.external_id, "payer": self._payer()}
        body["status"] = self.status
        if self.reason is not None:
            body["reason"] = self.reason
        if self.financial_transaction_id is not None:
            body["financialTransactionId"] = self.financial_transaction_id
        return body

    def callback_body(self) -> dict[str, Any]:
        """The callback JSON, keys in the documented order."""
        body = {"referenceId": self.reference_id, "externalId": self.request.external_id, **self._money()}
        if self.financial_transaction_id is not None:
            body["financialTransactionId"] = self.financial_transaction_id
        body["status"] = self.status
        if self.reason is not None:
            body["reason"] = self.reason
        body["payer"] = self._payer()
        return body

    def record(self) -> dict[str, Any]:
        """The harness view (``/_sim/payments``)."""
        return {
            "reference_id": self.reference_id,
            "external_id": self.request.external_id,
            "msisdn": self.msisdn,
            **self._money(),
            "status": self.status,
            "reason": self.reason,
            "financial_transaction_id": self.financial_transaction_id,
            "callback_url": self.callback_url,
            "requested_at": self.requested_at,
            "resolved_at": self.resolved_at,
            "callbacks": list(self.callbacks),
            "faults": list(self.faults),
            "polls": self.polls,
        }
