"""The LLM client: an OpenAI-compatible chat completion with one tool, ``search_offers``.

``understand(text)`` answers a :class:`SearchCall` (the model called the tool with valid arguments) or a
:class:`Chat` (the model answered in words), or raises :class:`LlmError`. The tool call is validated
strictly: an unknown tool, arguments that are not a JSON object, or values of the wrong type are an
error (``reason="malformed"``), never something shown to the buyer. 429 and 5xx answers and connection
failures (a reset, a body cut short) are retried ``AGENT_MAX_RETRIES`` times with exponential backoff,
so a call is tried at most ``1 + AGENT_MAX_RETRIES`` times; a 429's ``Retry-After`` is waited out when it
is at most ``AGENT_RETRY_AFTER_MAX_MS``, and a longer one ends the tries at once (see
:mod:`reference.clients.retry`). Each attempt is bounded by ``AGENT_TIMEOUT_MS`` and a timeout is not
retried. Every attempt is an ``llm_called`` event.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from .. import defects
from ..config import Settings
from ..observability import LLM_CALLED, EventLog
from .retry import new_client, policy_for, retry_after, retryable

TOOL_NAME = "search_offers"
BROKEN_RETRY_COUNT = 10  # no_retry_cap's and reset_retry_uncapped's retries, whatever AGENT_MAX_RETRIES says
MAX_QUANTITY = 999
SYSTEM_PROMPT = (
    "You are easyMO's shopping assistant for buyers in Kigali, Rwanda. When the buyer asks for something, "
    "call search_offers with what they want (query), how many (quantity, default 1) and the Kigali area "
    "they named (area, or null). Otherwise answer in one short sentence asking what they would like to order."
)
TOOL = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "Find offers from easyMO vendors for what the buyer wants.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "the item wanted, e.g. 'water jerrycan'"},
                "quantity": {"type": "integer", "minimum": 1, "description": "how many"},
                "area": {"type": ["string", "null"], "description": "a Kigali neighbourhood, or null"},
            },
            "required": ["query", "quantity", "area"],
            "additionalProperties": False,
        },
    },
}


class LlmError(Exception):
    """The LLM gave no usable answer. ``raw`` keeps what it did say (for logs only, never for users)."""

    def __init__(self, reason: str, attempts: int, raw: str = "") -> None:
        super().__init__(f"LLM failed: {reason} after {attempts} attempt(s)")
        self.reason, self.attempts, self.raw = reason, attempts, raw


@dataclass(frozen=True)
class SearchCall:
    query: str
    quantity: int
    area: str | None


@dataclass(frozen=True)
class Chat:
    text: str


class LlmClient:
    def __init__(
        self, settings: Settings, events: EventLog, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._settings, self._events = settings, events
        self._timeout_s = settings.agent_timeout_ms / 1000
        retries = settings.agent_max_retries
        if settings.has_defect(defects.NO_LLM_RETRY):
            retries = 0
        elif settings.has_defect(defects.NO_RETRY_CAP):
            retries = BROKEN_RETRY_COUNT
        self._policy = policy_for(settings, retries)
        # Connection failures share the cap, except with the defect that forgot it for them.
        self._transport_retries = (
            BROKEN_RETRY_COUNT if settings.has_defect(defects.RESET_RETRY_UNCAPPED) else retries
        )
        self._deadline = not settings.has_defect(defects.NO_LLM_TIMEOUT)
        self._client = (
            new_client(settings.llm_base_url, self._timeout_s, transport) if settings.llm_base_url else None
        )

    @property
    def configured(self) -> bool:
        return self._client is not None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def understand(self, text: str, phone: str, corr: str) -> SearchCall | Chat:
        if self._client is None:
            raise LlmError("not_configured", 0)
        body = {
            "model": self._settings.llm_model,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}],
            "tools": [TOOL],
            "tool_choice": "auto",
            "user": phone,
        }
        headers = {"Authorization": f"Bearer {self._settings.llm_api_key}"}
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            status: int | None = None
            try:
                if self._deadline:
                    async with asyncio.timeout(self._timeout_s):
                        response = await self._client.post("/v1/chat/completions", json=body, headers=headers)
                else:  # the no_llm_timeout defect: wait as long as the LLM takes
                    response = await self._client.post(
                        "/v1/chat/completions", json=body, headers=headers, timeout=None
                    )
                status = response.status_code
            except (TimeoutError, httpx.TimeoutException):
                self._called(corr, phone, attempt, None, "timeout", started)
                raise LlmError("timeout", attempt) from None
            except httpx.TransportError as exc:
                self._called(corr, phone, attempt, None, "transport_error", started)
                if attempt <= self._transport_retries:
                    await self._policy.wait(attempt)
                    continue
                raise LlmError(f"transport_error: {type(exc).__name__}", attempt) from None
            if retryable(response):
                self._called(corr, phone, attempt, status, "error", started)
                if attempt <= self._policy.max_retries and await self._policy.wait(
                    attempt, retry_after(response)
                ):
                    continue
                raise LlmError(f"http_{status}", attempt)
            if response.status_code != 200:
                self._called(corr, phone, attempt, status, "error", started)
                raise LlmError(f"http_{status}", attempt)
            try:
                answer = parse_completion(response.json())
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                self._called(corr, phone, attempt, status, "malformed", started)
                raw = f"{type(exc).__name__}: {exc} in {response.text[:300]}"
                raise LlmError("malformed", attempt, raw) from None
            kind = "tool_call" if isinstance(answer, SearchCall) else "text"
            self._called(corr, phone, attempt, status, kind, started)
            return answer

    def _called(
        self, corr: str, phone: str, attempt: int, status: int | None, outcome: str, started: float
    ) -> None:
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        self._events.record(
            corr, LLM_CALLED, phone, attempt=attempt, status=status, outcome=outcome, latency_ms=latency_ms
        )


def parse_completion(payload: Any) -> SearchCall | Chat:
    """The model's answer, validated; ``ValueError`` (or a lookup error) for anything else."""
    choice = payload["choices"][0]
    if choice.get("finish_reason") == "length":
        # Cut at the token limit: even arguments that happen to parse are not the whole answer.
        raise ValueError("the answer was cut short (finish_reason length)")
    message = choice["message"]
    if not isinstance(message, dict):
        raise ValueError("message is not an object")
    calls = message.get("tool_calls")
    if calls:
        if not isinstance(calls, list) or not isinstance(calls[0], dict):
            raise ValueError("tool_calls is not a list of objects")
        function = calls[0]["function"]
        if calls[0].get("type", "function") != "function" or function.get("name") != TOOL_NAME:
            raise ValueError(f"unknown tool {function.get('name')!r}")
        raw = function.get("arguments")
        arguments = json.loads(raw) if isinstance(raw, str) else None
        if not isinstance(arguments, dict):
            raise ValueError("arguments are not a JSON object")
        return _search_call(arguments)
    content = message.get("content")
    if isinstance(content, str) and content.strip():
        return Chat(content.strip())
    raise ValueError("neither a tool call nor text")


def _search_call(arguments: dict[str, Any]) -> SearchCall:
    query, quantity, area = arguments.get("query"), arguments.get("quantity", 1), arguments.get("area")
    if not isinstance(query, str) or not query.strip() or len(query) > 200:
        raise ValueError("query must be a non-empty string")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        raise ValueError("quantity must be an integer from 1 to 999")
    if area is not None and not isinstance(area, str):
        raise ValueError("area must be a string or null")
    return SearchCall(query.strip(), quantity, area.strip() if area and area.strip() else None)
