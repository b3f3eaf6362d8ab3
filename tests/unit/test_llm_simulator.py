"""The LLM simulator (easymo_qa.simulators.llm) and its rules (easymo_qa.simulators.intents), in-process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from easymo_qa.simulators.intents import SearchIntent, parse_search_intent, singular
from easymo_qa.simulators.llm import LlmSimConfig, create_llm_app
from easymo_qa.simulators.llm_completions import ASK_WHAT_TO_ORDER, LlmReply

pytestmark = pytest.mark.unit

KEY = "sk-test-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT = "/v1/chat/completions"
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search_offers",
        "description": "Search marketplace offers",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "quantity": {"type": "integer"},
                "area": {"type": ["string", "null"]},
            },
            "required": ["query"],
        },
    },
}


# --- intents ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 jerrycans of water near Kimironko", SearchIntent("jerrycan water", 2, "Kimironko")),
        ("I need a gas cylinder in Remera", SearchIntent("gas cylinder", 1, "Remera")),
        ("three trays of eggs", SearchIntent("tray egg", 3, None)),
        ("Twelve batteries please", SearchIntent("battery", 12, None)),
        ("I want to buy some sugar", SearchIntent("sugar", 1, None)),
        ("order 2 boxes of tomatoes around kicukiro", SearchIntent("box tomato", 2, "Kicukiro")),
        ("Can you deliver 5 bags of rice to me at NYAMIRAMBO?", SearchIntent("bag rice", 5, "Nyamirambo")),
        ("I would like glasses near the Kacyiru market", SearchIntent("glass", 1, "Kacyiru")),
        ("gas in Kanombe", SearchIntent("gas", 1, "Kanombe")),
        ("one mattress for Nyarutarama", SearchIntent("mattress nyarutarama", 1, None)),
        ("Get me 10 chapati in Kimihurura", SearchIntent("chapati", 10, "Kimihurura")),
        ("ndashaka amagi kabiri i Gikondo", SearchIntent("amagi", 2, "Gikondo")),
        ("gatatu amata mu Nyabugogo", SearchIntent("amata", 3, "Nyabugogo")),
        ("2 bags of 25 kg cement", SearchIntent("bag 25 kg cement", 2, None)),
        ("in Musanze, 4 phones", SearchIntent("musanze phone", 4, None)),
        ("hello", None),
        ("Hi! How are you?", None),
        ("Muraho neza! Amakuru y'uyu munsi?", None),
        ("", None),
        ("   ?!  ", None),
        ("please near Remera", None),
    ],
)
def test_parse_search_intent(text: str, expected: SearchIntent | None) -> None:
    assert parse_search_intent(text) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("jerrycans", "jerrycan"),
        ("gas", "gas"),
        ("glass", "glass"),
        ("glasses", "glass"),
        ("batteries", "battery"),
        ("eggs", "egg"),
        ("bus", "bus"),
        ("news", "news"),
        ("potatoes", "potato"),
    ],
)
def test_singular(word: str, expected: str) -> None:
    assert singular(word) == expected


def test_parse_never_crashes_on_odd_input() -> None:
    for text in ["🙂🙂", "Yego 😀 murakoze cyane", "1" * 50, "\x00\n\t", "ç'est très bien", "0 eggs"]:
        result = parse_search_intent(text)
        assert result is None or (result.query and result.quantity >= 1)


def test_same_text_same_intent() -> None:
    text = "2 jerrycans of water near Kimironko"
    assert parse_search_intent(text) == parse_search_intent(text)


# --- the HTTP API ----------------------------------------------------------------------------------------

Scenario = Callable[[httpx.AsyncClient, Starlette], Awaitable[None]]


def run(scenario: Scenario, app: Starlette | None = None) -> Starlette:
    """Run ``scenario(client, app)`` in a fresh event loop against the app, in-process."""
    app = app if app is not None else create_llm_app(LlmSimConfig(api_key=KEY))

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://llm.test") as client:
            await scenario(client, app)

    asyncio.run(main())
    return app


def chat(text: str, *, tools: bool = True, user: str | None = "250788123456", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are easyMO, a marketplace assistant."},
            {"role": "user", "content": text},
        ],
        "temperature": 0,
    }
    if tools:
        body["tools"] = [SEARCH_TOOL]
        body["tool_choice"] = "auto"
    if user is not None:
        body["user"] = user
    return body | extra


def assert_openai_error(response: httpx.Response, status: int, code: str | None) -> dict[str, Any]:
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    assert error["code"] == code
    return error


def test_intent_with_search_tool_is_a_valid_tool_call() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(CHAT, json=chat("2 jerrycans of water near Kimironko"), headers=AUTH)
        assert response.status_code == 200
        answer = response.json()
        assert answer["id"].startswith("chatcmpl-")
        assert answer["object"] == "chat.completion"
        assert isinstance(answer["created"], int)
        assert answer["model"] == "gpt-4o-mini"
        [choice] = answer["choices"]
        assert choice["index"] == 0
        assert choice["finish_reason"] == "tool_calls"
        message = choice["message"]
        assert message["role"] == "assistant"
        assert message["content"] is None
        [call] = message["tool_calls"]
        assert call["id"].startswith("call_")
        assert call["type"] == "function"
        assert call["function"]["name"] == "search_offers"
        arguments = call["function"]["arguments"]
        assert isinstance(arguments, str)
        assert json.loads(arguments) == {"query": "jerrycan water", "quantity": 2, "area": "Kimironko"}
        usage = answer["usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0

    run(scenario)


def test_same_request_same_answer_but_new_ids() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        body = chat("I need a gas cylinder in Remera")
        first = (await client.post(CHAT, json=body, headers=AUTH)).json()
        second = (await client.post(CHAT, json=body, headers=AUTH)).json()
        assert first["id"] != second["id"]
        calls = [a["choices"][0]["message"]["tool_calls"][0] for a in (first, second)]
        assert calls[0]["id"] != calls[1]["id"]
        assert calls[0]["function"] == calls[1]["function"]

    run(scenario)


@pytest.mark.parametrize(
    "body",
    [
        chat("hello"),
        chat("2 jerrycans of water", tools=False),
        chat("2 jerrycans of water", tool_choice="none"),
        chat("2 jerrycans", tools=False) | {"tools": [{"type": "function", "function": {"name": "other"}}]},
    ],
    ids=["greeting", "no-tools", "tool-choice-none", "other-tool"],
)
def test_no_tool_call_answers_with_friendly_text(body: dict[str, Any]) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(CHAT, json=body, headers=AUTH)
        assert response.status_code == 200
        [choice] = response.json()["choices"]
        assert choice["finish_reason"] == "stop"
        assert choice["message"] == {"role": "assistant", "content": ASK_WHAT_TO_ORDER}

    run(scenario)


def test_after_a_tool_result_the_answer_is_text() -> None:
    # A client's tool loop must end: once the search result is in, the simulator stops calling tools.
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        body = chat("2 jerrycans of water near Kimironko")
        first = (await client.post(CHAT, json=body, headers=AUTH)).json()
        assistant = first["choices"][0]["message"]
        call_id = assistant["tool_calls"][0]["id"]
        body["messages"] += [assistant, {"role": "tool", "tool_call_id": call_id, "content": '{"offers":[]}'}]
        answer = (await client.post(CHAT, json=body, headers=AUTH)).json()
        [choice] = answer["choices"]
        assert choice["finish_reason"] == "stop"
        assert isinstance(choice["message"]["content"], str)
        assert "tool_calls" not in choice["message"]

    run(scenario)


def test_content_parts_are_read() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        body = chat("x")
        body["messages"][-1]["content"] = [{"type": "text", "text": "three trays of eggs"}]
        answer = (await client.post(CHAT, json=body, headers=AUTH)).json()
        call = answer["choices"][0]["message"]["tool_calls"][0]
        assert json.loads(call["function"]["arguments"]) == {"query": "tray egg", "quantity": 3, "area": None}

    run(scenario)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}, {"Authorization": "Bearer "}],
    ids=["missing", "wrong", "not-bearer", "empty"],
)
def test_bad_key_is_401_invalid_api_key(headers: dict[str, str]) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(CHAT, json=chat("2 jerrycans"), headers=headers)
        error = assert_openai_error(response, 401, "invalid_api_key")
        assert error["param"] is None
        assert KEY not in error["message"]

    run(scenario)


def test_empty_configured_key_accepts_any_bearer() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(CHAT, json=chat("hello"), headers={"Authorization": "Bearer anything"})
        assert response.status_code == 200
        response = await client.post(CHAT, json=chat("hello"))
        assert_openai_error(response, 401, "invalid_api_key")

    run(scenario, create_llm_app(LlmSimConfig()))


@pytest.mark.parametrize(
    ("content", "param"),
    [
        (b'{"model": "x", "messages": [', None),
        (b"[1, 2]", None),
        (b'{"model": "gpt-4o-mini"}', "messages"),
        (b'{"model": "gpt-4o-mini", "messages": []}', "messages"),
        (b'{"model": "gpt-4o-mini", "messages": "hi"}', "messages"),
        (b'{"model": "gpt-4o-mini", "messages": [{"content": "hi"}]}', "messages[0]"),
        (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "tools": {}}', "tools"),
    ],
    ids=[
        "not-json",
        "not-object",
        "no-messages",
        "empty-messages",
        "messages-string",
        "no-role",
        "bad-tools",
    ],
)
def test_bad_request_is_400_openai_error(content: bytes, param: str | None) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(
            CHAT, content=content, headers=AUTH | {"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error"
        assert error["param"] == param

    run(scenario)


def test_every_call_is_recorded_and_filterable() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        await client.post(CHAT, json=chat("2 jerrycans of water near Kimironko", user="alice"), headers=AUTH)
        await client.post(CHAT, json=chat("hello", user="bob"), headers=AUTH)
        await client.post(CHAT, json=chat("hello", user="alice"), headers={"Authorization": "Bearer no"})
        await client.post(CHAT, content=b"{", headers=AUTH)

        everyone = (await client.get("/_sim/calls")).json()
        assert everyone["last_seq"] == 4
        assert [(c["seq"], c["user"], c["status"], c["response_kind"]) for c in everyone["calls"]] == [
            (1, "alice", 200, "tool_call"),
            (2, "bob", 200, "text"),
            (3, "alice", 401, "error"),
            (4, None, 400, "error"),
        ]
        first = everyone["calls"][0]
        assert first["model"] == "gpt-4o-mini"
        assert first["last_user_message"] == "2 jerrycans of water near Kimironko"
        assert first["tool_names"] == ["search_offers"]
        assert isinstance(first["at"], float)

        alice = (await client.get("/_sim/calls", params={"user": "alice", "after": 1})).json()["calls"]
        assert [c["seq"] for c in alice] == [3]

        assert (await client.delete("/_sim/calls")).status_code == 200
        assert (await client.get("/_sim/calls")).json()["calls"] == []
        await client.post(CHAT, json=chat("hello"), headers=AUTH)
        [call] = (await client.get("/_sim/calls", params={"after": 4})).json()["calls"]
        assert call["seq"] == 5

    run(scenario)


def test_bad_after_is_400() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        assert (await client.get("/_sim/calls", params={"after": "x"})).status_code == 400

    run(scenario)


def test_complete_handler_can_be_wrapped_by_a_fault_layer() -> None:
    app = create_llm_app(LlmSimConfig(api_key=KEY))
    sim = app.state.llm

    async def overloaded(body: dict[str, Any]) -> LlmReply:
        error = {
            "message": "Rate limit reached",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
        return LlmReply(429, {"error": error})

    sim.complete = overloaded

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(CHAT, json=chat("2 jerrycans"), headers=AUTH)
        assert response.status_code == 429
        [call] = (await client.get("/_sim/calls")).json()["calls"]
        assert (call["status"], call["response_kind"]) == (429, "error")

    run(scenario, app)


# --- streaming and truncated answers ----------------------------------------------------------------------


def sse_events(response: httpx.Response) -> list[Any]:
    """The ``data:`` payloads of a server-sent event stream, JSON-decoded (``[DONE]`` kept as text)."""
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]
    return [e if e == "[DONE]" else json.loads(e) for e in events]


def test_stream_true_answers_chunks_then_done() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        plain = (await client.post(CHAT, json=chat("hello", tools=False), headers=AUTH)).json()
        events = sse_events(
            await client.post(CHAT, json=chat("hello", tools=False, stream=True), headers=AUTH)
        )
        assert events[-1] == "[DONE]"
        chunks = events[:-1]
        assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        assert text == plain["choices"][0]["message"]["content"]
        assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"

        calls = sse_events(
            await client.post(CHAT, json=chat("2 jerrycans of water", stream=True), headers=AUTH)
        )
        [call] = calls[1]["choices"][0]["delta"]["tool_calls"]
        assert (call["index"], call["function"]["name"]) == (0, "search_offers")
        assert calls[-2]["choices"][0]["finish_reason"] == "tool_calls"

    run(scenario)


def test_truncated_stream_and_truncated_answer() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule = {"scope": "t", "action": "truncated", "key": "250788123456", "times": 2}
        assert (await client.post("/_sim/faults", json=rule)).status_code == 201
        events = sse_events(
            await client.post(CHAT, json=chat("hello", tools=False, stream=True), headers=AUTH)
        )
        assert "[DONE]" not in events
        assert [c["choices"][0]["finish_reason"] for c in events] == [None, None]  # cut before the end

        cut = (await client.post(CHAT, json=chat("2 jerrycans of water"), headers=AUTH)).json()
        choice = cut["choices"][0]
        assert choice["finish_reason"] == "length"
        with pytest.raises(json.JSONDecodeError):
            json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"])
        calls = (await client.get("/_sim/calls")).json()["calls"]
        assert [c.get("fault") for c in calls] == ["f1", "f1"]

    run(scenario)
