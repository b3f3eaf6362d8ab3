"""What the simulated model says: OpenAI ``chat.completion`` objects chosen by fixed rules, not a model.

:mod:`easymo_qa.simulators.intents` reads the last ``user`` message:

- the request offers a tool named ``search_offers`` and the message asks for something → the answer is
  a ``tool_calls`` completion calling ``search_offers`` with ``{"query", "quantity", "area"}``;
- otherwise → a short text asking what the shopper would like to order (``finish_reason: "stop"``);
- the conversation already ends with a ``tool`` result (the SUT ran the search and asks for the final
  words) → a short text, never another tool call, so a client's tool loop always ends.

Same request, same answer (only ``id``/``created`` and tool-call ids vary).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from easymo_qa.simulators.intents import parse_search_intent

SEARCH_TOOL = "search_offers"
DEFAULT_MODEL = "easymo-sim"  # echoed when a request names no model
ASK_WHAT_TO_ORDER = (
    "Muraho! What would you like to order today? Tell me the item, how many, and your area, "
    "for example: 2 jerrycans of water near Kimironko."
)
AFTER_TOOL_RESULT = "Here is what I found for you."


@dataclass(frozen=True)
class LlmReply:
    """What the completions endpoint answers: an HTTP status and OpenAI's JSON body.

    ``fault`` is the id of the fault rule that applied; ``response``, when set, is sent as is instead of
    ``payload`` (a fault's malformed body or reset).
    """

    status: int
    payload: dict[str, Any]
    fault: str | None = None
    response: Response | None = None
    truncated: bool = False  # cut short: a stream then ends early, without finish_reason and [DONE]


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


def tool_call_completion(body: dict[str, Any], name: str, arguments: str) -> dict[str, Any]:
    """A completion calling the function ``name`` with ``arguments`` (a JSON string, or not: faults)."""
    call = {
        "id": "call_" + secrets.token_hex(12),
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    return completion(body, message, "tool_calls", name + arguments)


def text_completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    """A completion answering ``text`` (``finish_reason: "stop"``)."""
    return completion(body, {"role": "assistant", "content": text}, "stop", text)


async def complete_by_rules(body: dict[str, Any]) -> LlmReply:
    """The fault-free handler: a ``search_offers`` call when the last user message asks for something."""
    messages: list[dict[str, Any]] = body["messages"]
    if messages[-1].get("role") == "tool":
        return LlmReply(200, text_completion(body, AFTER_TOOL_RESULT))
    intent = parse_search_intent(last_user_message(messages) or "")
    # tool_choice "none" forbids tool calls; "auto", "required" or a named function allow them.
    if intent is not None and SEARCH_TOOL in tool_names(body) and body.get("tool_choice") != "none":
        arguments = json.dumps(intent.arguments(), ensure_ascii=False, separators=(",", ":"))
        return LlmReply(200, tool_call_completion(body, SEARCH_TOOL, arguments))
    return LlmReply(200, text_completion(body, ASK_WHAT_TO_ORDER))
