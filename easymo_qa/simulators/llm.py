"""The LLM simulator: an OpenAI-compatible ``/v1/chat/completions`` that answers by fixed rules.

The SUT talks to it exactly as to OpenAI. Instead of a model, :mod:`easymo_qa.simulators.intents`
reads the last ``user`` message:

- the request offers a tool named ``search_offers`` and the message asks for something → the answer is
  a ``tool_calls`` completion calling ``search_offers`` with ``{"query", "quantity", "area"}``;
- otherwise → a short text asking what the shopper would like to order (``finish_reason: "stop"``);
- the conversation already ends with a ``tool`` result (the SUT ran the search and asks for the final
  words) → a short text, never another tool call, so a client's tool loop always ends.

Same request, same answer (only ``id``/``created`` and tool-call ids vary). Every call, refused ones
included, is recorded and readable at ``GET /_sim/calls?user=&after=``.

As in the Graph API simulator, the route does what OpenAI does before a prompt is considered (bearer
token, JSON, request shape) and hands the body to :attr:`LlmSimulator.complete`, a plain
``async (body) -> LlmReply`` function a fault layer can wrap (latency, 429, 500, garbage); the route
records whatever reply came back.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from easymo_qa.simulators.calls import CallLog, call_log_routes
from easymo_qa.simulators.intents import parse_search_intent

SEARCH_TOOL = "search_offers"
DEFAULT_MODEL = "easymo-sim"  # echoed when a request names no model
ASK_WHAT_TO_ORDER = (
    "Muraho! What would you like to order today? Tell me the item, how many, and your area, "
    "for example: 2 jerrycans of water near Kimironko."
)
AFTER_TOOL_RESULT = "Here is what I found for you."


@dataclass
class LlmSimConfig:
    """The API key the SUT must present; "" accepts any bearer token."""

    api_key: str = ""


@dataclass(frozen=True)
class LlmReply:
    """What the completions endpoint answers: an HTTP status and OpenAI's JSON body."""

    status: int
    payload: dict[str, Any]


CompleteHandler = Callable[[dict[str, Any]], Awaitable[LlmReply]]


def openai_error(
    message: str,
    *,
    status: int = 400,
    error_type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> LlmReply:
    """An OpenAI error reply: ``{"error": {message, type, param, code}}``."""
    return LlmReply(status, {"error": {"message": message, "type": error_type, "param": param, "code": code}})


def message_text(content: Any) -> str:
    """The text of a message ``content``: a string, or the ``text`` parts of a content-part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def last_user_message(messages: list[Any]) -> str | None:
    """The text of the last ``user`` message, or ``None`` when there is none."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message.get("content"))
    return None


def tool_names(body: dict[str, Any]) -> list[str]:
    """Names of the function tools a request offers, in order (malformed entries are skipped)."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    names: list[str] = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str):
            names.append(name)
    return names


def _rough_tokens(text: str) -> int:
    # About four characters per token for English; only "roughly right" is promised.
    return max(1, (len(text) + 3) // 4)


def _usage(messages: list[dict[str, Any]], output: str) -> dict[str, int]:
    prompt = sum(_rough_tokens(message_text(m.get("content"))) + 4 for m in messages)
    completion = _rough_tokens(output)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion(
    body: dict[str, Any], message: dict[str, Any], finish_reason: str, output: str
) -> dict[str, Any]:
    """A ``chat.completion`` object with one choice carrying ``message``."""
    model = body.get("model")
    return {
        "id": "chatcmpl-" + secrets.token_hex(12),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model if isinstance(model, str) and model else DEFAULT_MODEL,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": _usage(body["messages"], output),
    }


def _tool_calls_allowed(body: dict[str, Any]) -> bool:
    # tool_choice "none" forbids tool calls; "auto", "required" or a named function allow them.
    return body.get("tool_choice") != "none"


async def complete_by_rules(body: dict[str, Any]) -> LlmReply:
    """The fault-free handler: a ``search_offers`` call when the last user message asks for something."""
    messages: list[dict[str, Any]] = body["messages"]
    if messages[-1].get("role") == "tool":
        text = AFTER_TOOL_RESULT
        message = {"role": "assistant", "content": text}
        return LlmReply(200, completion(body, message, "stop", text))
    intent = parse_search_intent(last_user_message(messages) or "")
    if intent is not None and SEARCH_TOOL in tool_names(body) and _tool_calls_allowed(body):
        arguments = json.dumps(intent.arguments(), ensure_ascii=False, separators=(",", ":"))
        call = {
            "id": "call_" + secrets.token_hex(12),
            "type": "function",
            "function": {"name": SEARCH_TOOL, "arguments": arguments},
        }
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        return LlmReply(200, completion(body, message, "tool_calls", SEARCH_TOOL + arguments))
    message = {"role": "assistant", "content": ASK_WHAT_TO_ORDER}
    return LlmReply(200, completion(body, message, "stop", ASK_WHAT_TO_ORDER))


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
    if body.get("stream") is True:
        # Silently answering a streaming request with one JSON object would break the client in
        # confusing ways; saying so is kinder.
        return openai_error("The simulator does not support stream=true.", param="stream", code="unsupported")
    return None


def _response_kind(reply: LlmReply) -> str:
    if reply.status != 200:
        return "error"
    try:
        finish = reply.payload["choices"][0]["finish_reason"]
    except (KeyError, IndexError, TypeError):
        return "unknown"
    return "tool_call" if finish == "tool_calls" else "text"


async def chat_completions(request: Request) -> JSONResponse:
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
    if reply is None:
        reply = await sim.complete(body)

    fields = body if isinstance(body, dict) else {}
    messages = fields.get("messages")
    user, model = fields.get("user"), fields.get("model")
    sim.calls.record(
        user=user if isinstance(user, str) else None,
        model=model if isinstance(model, str) else None,
        last_user_message=last_user_message(messages) if isinstance(messages, list) else None,
        tool_names=tool_names(fields),
        status=reply.status,
        response_kind=_response_kind(reply),
    )
    return JSONResponse(reply.payload, status_code=reply.status)


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_llm_app(config: LlmSimConfig | None = None, *, calls: CallLog | None = None) -> Starlette:
    """A Starlette app playing the OpenAI chat API; its state is ``app.state.llm`` (an LlmSimulator)."""
    log = calls if calls is not None else CallLog()
    app = Starlette(
        routes=[
            Route("/_sim/health", health, methods=["GET"]),
            *call_log_routes("/_sim/calls", lambda request: _sim(request).calls, filters=("user",)),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        ]
    )
    app.state.llm = LlmSimulator(config=config or LlmSimConfig(), calls=log, complete=complete_by_rules)
    return app
