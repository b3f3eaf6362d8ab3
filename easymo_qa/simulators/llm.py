"""The LLM simulator: an OpenAI-compatible ``/v1/chat/completions``; its answers: :mod:`.llm_completions`.

Every call, refused and faulted ones included, is recorded on arrival (``status`` and ``response_kind``
stay ``null`` until it is answered, so a hanging call counts at once): ``GET /_sim/calls?user=&after=``.
The route checks what OpenAI checks before a prompt is considered (bearer token, JSON, request shape) and
hands the body to :attr:`LlmSimulator.complete`, an ``async (body) -> LlmReply`` the fault plane wraps:
op ``chat``, key the request's ``user``; a faulted call's record carries ``fault: <rule id>``. Besides
invalid JSON, ``malformed`` has two LLM variants: ``unknown_tool`` (a valid completion calling
``delete_everything``) and ``bad_arguments`` (a ``search_offers`` call whose arguments are not JSON).

``stream: true`` is answered as OpenAI streams: server-sent events, one ``chat.completion.chunk`` per
delta (the role, the content or tool call, then an empty delta with ``finish_reason``) and ``data:
[DONE]`` (https://platform.openai.com/docs/api-reference/chat-streaming). The ``truncated`` fault cuts an
answer short: a stream ends after its first content chunk, with no ``finish_reason`` and no ``[DONE]``;
a plain answer comes back with ``finish_reason: "length"`` (the model hit its token limit) and its text
or tool arguments cut in half. ``reset`` drops the connection mid-body instead.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from easymo_qa.simulators.calls import CallLog, call_log_routes
from easymo_qa.simulators.faults import FaultPlane, FaultRule, fault_routes, invalid_json, shared_answer
from easymo_qa.simulators.llm_completions import (
    SEARCH_TOOL,
    LlmReply,
    complete_by_rules,
    last_user_message,
    openai_error,
    tool_call_completion,
    tool_names,
)


@dataclass
class LlmSimConfig:
    """The API key the SUT must present; "" accepts any bearer token."""

    api_key: str = ""


CompleteHandler = Callable[[dict[str, Any]], Awaitable[LlmReply]]


# --- faults ------------------------------------------------------------------------------------------------

FAULT_OPS = {"chat": ("status", "delay", "hang", "malformed", "reset", "truncated")}
FAULT_VARIANTS = ("invalid_json", "unknown_tool", "bad_arguments")
UNKNOWN_TOOL = "delete_everything"
# OpenAI's message and type for the statuses a fault rule is most likely to answer.
_OPENAI_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to use this model.", "invalid_request_error", None),
    404: ("The model does not exist or you do not have access to it.", "invalid_request_error", None),
    429: ("Rate limit reached for requests. Please try again in 1s.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The server is overloaded or not ready yet.", "server_error", None),
    504: ("Request timed out.", "server_error", None),
}


def fault_error(status: int, rule: FaultRule) -> dict[str, Any]:
    """OpenAI's error body for ``status``."""
    default = ("Simulated error.", "invalid_request_error" if status < 500 else "server_error", None)
    message, error_type, code = _OPENAI_ERRORS.get(status, default)
    return openai_error(message, status=status, error_type=error_type, code=code).payload


def _cut(text: str) -> str:
    return text[: max(1, len(text) // 2)]


def truncated_reply(reply: LlmReply, fault: str) -> LlmReply:
    """``reply`` cut short by its token limit: ``finish_reason: "length"``, text or arguments halved."""
    payload = json.loads(json.dumps(reply.payload))  # a deep copy
    choice = payload["choices"][0]
    message = choice["message"]
    for call in message.get("tool_calls") or []:
        call["function"]["arguments"] = _cut(call["function"]["arguments"])
    if isinstance(message.get("content"), str):
        message["content"] = _cut(message["content"])
    choice["finish_reason"] = "length"
    return LlmReply(reply.status, payload, fault=fault, truncated=True)


def with_faults(complete: CompleteHandler, plane: FaultPlane) -> CompleteHandler:
    """``complete`` behind the fault plane (op ``chat``, key the request's ``user``)."""
    garbage = invalid_json({"id": "chatcmpl-simulated", "object": "chat.completion", "choices": []})

    async def faulted_complete(body: dict[str, Any]) -> LlmReply:
        user = body.get("user")
        rule = plane.take("chat", user if isinstance(user, str) else None)
        if rule is None:
            return await complete(body)
        if rule.action == "malformed" and rule.variant == "unknown_tool":
            return LlmReply(200, tool_call_completion(body, UNKNOWN_TOOL, '{"confirm":true}'), fault=rule.id)
        if rule.action == "malformed" and rule.variant == "bad_arguments":
            cut = '{"query": "water", "quantity": tw'  # not JSON: a model that lost the thread
            return LlmReply(200, tool_call_completion(body, SEARCH_TOOL, cut), fault=rule.id)
        if rule.action == "truncated":
            return truncated_reply(await complete(body), rule.id or "")
        answer = await shared_answer(rule, fault_error, garbage)
        if answer is None:  # delayed, then answered as usual
            return replace(await complete(body), fault=rule.id)
        return LlmReply(answer.status, answer.payload or {}, fault=rule.id, response=answer.response)

    return faulted_complete


@dataclass
class LlmSimulator:
    """State behind one LLM simulator app; reachable as ``app.state.llm``."""

    config: LlmSimConfig
    calls: CallLog
    complete: CompleteHandler


def _sim(request: Request) -> LlmSimulator:
    return request.app.state.llm


def _auth_error(request: Request, api_key: str) -> LlmReply | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    token = value.strip()
    if scheme.lower() != "bearer" or not token:
        return openai_error(
            "You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            status=401,
            code="invalid_api_key",
        )
    if api_key and not hmac.compare_digest(token.encode(), api_key.encode()):
        # OpenAI shows only the key's ends; a simulator log must not leak the full token either.
        shown = f"{token[:3]}****{token[-4:]}" if len(token) > 8 else "****"
        return openai_error(f"Incorrect API key provided: {shown}.", status=401, code="invalid_api_key")
    return None


def _shape_error(body: Any) -> LlmReply | None:
    """OpenAI's 400 for a request that is JSON but not a usable chat request; ``None`` when it is."""
    if not isinstance(body, dict):
        return openai_error("The request body must be a JSON object.")
    messages = body.get("messages")
    if messages is None:
        return openai_error(
            "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
        )
    if not isinstance(messages, list) or not messages:
        return openai_error(
            "Invalid 'messages': expected a non-empty array of messages.",
            param="messages",
            code="empty_array",
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return openai_error(
                f"Invalid 'messages[{i}]': each message must be an object with a 'role'.",
                param=f"messages[{i}]",
                code="invalid_value",
            )
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        return openai_error("Invalid 'model': expected a string.", param="model", code="invalid_type")
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        return openai_error("Invalid 'tools': expected an array.", param="tools", code="invalid_type")
    return None


def stream_chunks(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """A completion as OpenAI streams it: the role, the tool calls or the content in two parts, the finish."""
    head = {"id": payload["id"], "object": "chat.completion.chunk", "created": payload["created"]}
    head["model"] = payload["model"]
    choice = payload["choices"][0]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    if message.get("tool_calls"):
        chunks.append(chunk({"tool_calls": [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]}))
    else:
        text = message.get("content") or ""
        middle = len(text) // 2
        chunks += [chunk({"content": text[:middle]}), chunk({"content": text[middle:]})]
    chunks.append(chunk({}, choice["finish_reason"]))
    return chunks


def stream_response(reply: LlmReply) -> Response:
    """``text/event-stream`` of the reply's chunks; a truncated reply stops after its first content chunk."""
    chunks = stream_chunks(reply.payload)
    events = chunks[:2] if reply.truncated else [*chunks, "[DONE]"]
    lines = [f"data: {e if isinstance(e, str) else json.dumps(e, separators=(',', ':'))}\n\n" for e in events]
    return Response("".join(lines), status_code=200, media_type="text/event-stream")


def _response_kind(reply: LlmReply) -> str:
    if reply.status != 200:
        return "error"
    try:
        finish = reply.payload["choices"][0]["finish_reason"]
    except (KeyError, IndexError, TypeError):
        return "unknown"
    return "tool_call" if finish == "tool_calls" else "text"


async def chat_completions(request: Request) -> Response:
    sim = _sim(request)
    # The body is parsed even when the key is wrong, so a refused call is still recorded with its user.
    body: Any = None
    json_error: str | None = None
    try:
        body = json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        json_error = str(exc)
    reply = _auth_error(request, sim.config.api_key)
    if reply is None and json_error is not None:
        reply = openai_error(
            f"We could not parse the JSON body of your request ({json_error}). The OpenAI API expects a "
            "JSON payload."
        )
    if reply is None:
        reply = _shape_error(body)

    # Recorded before the (possibly slow or hanging) handler runs, so every call is counted on arrival.
    fields = body if isinstance(body, dict) else {}
    messages = fields.get("messages")
    user, model = fields.get("user"), fields.get("model")
    record = sim.calls.record(
        user=user if isinstance(user, str) else None,
        model=model if isinstance(model, str) else None,
        last_user_message=last_user_message(messages) if isinstance(messages, list) else None,
        tool_names=tool_names(fields),
        status=None,
        response_kind=None,
    )
    if reply is None:
        reply = await sim.complete(body)
    record.update(status=reply.status, response_kind=_response_kind(reply))
    if reply.fault is not None:
        record["fault"] = reply.fault
    if reply.response is not None:
        return reply.response
    if reply.status == 200 and fields.get("stream") is True:
        return stream_response(reply)
    return JSONResponse(reply.payload, status_code=reply.status)


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_llm_app(config: LlmSimConfig | None = None, *, calls: CallLog | None = None) -> Starlette:
    """A Starlette app playing the OpenAI chat API; its state is ``app.state.llm`` (an LlmSimulator).

    Its fault plane is ``app.state.faults``, served at ``/_sim/faults``.
    """
    log = calls if calls is not None else CallLog()
    faults = FaultPlane("llm", FAULT_OPS, variants=FAULT_VARIANTS)
    app = Starlette(
        routes=[
            Route("/_sim/health", health, methods=["GET"]),
            *call_log_routes("/_sim/calls", lambda request: _sim(request).calls, filters=("user",)),
            *fault_routes(),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        ]
    )
    app.state.faults = faults
    app.state.llm = LlmSimulator(
        config=config or LlmSimConfig(), calls=log, complete=with_faults(complete_by_rules, faults)
    )
    return app
