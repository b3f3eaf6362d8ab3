"""An echo bot on pywa (https://github.com/david-lev/pywa, the version pinned in requirements.txt): a third
WhatsApp Cloud API bot the protocol smoke layer must pass against, written the way pywa's docs say.

pywa does the protocol: its built-in server (Starlette + Uvicorn, ``WhatsApp.run``) answers the GET
verification with ``verify_token``, checks ``X-Hub-Signature-256`` with ``app_secret`` (401 unsigned, 403
bad signature), skips redelivered updates (``skip_duplicate_updates``: by a hash of the body) and drops
updates for another ``phone_id`` (``filter_updates``). The bot marks each message read with a typing
indicator (``indicate_typing``) and echoes it. ``user_identifier_priority`` puts the phone first, so a
phone user is answered with ``to``; a username-only user has no ``wa_id`` and gets ``recipient`` (the
BSUID). pywa's default order is BSUID first: every user, phone or not, would get ``recipient``.

pywa posts to ``https://graph.facebook.com/v{version}`` and has no option for another base URL (its
GraphAPI sets ``session.base_url`` itself); the ``session`` it takes is any ``httpx.Client``, so ours has a
transport that sends those requests to GRAPH_URL (the Graph API simulator) and refuses any other host.

Run with the virtualenv env.py builds, and BOT_PORT, BOT_APP_SECRET, BOT_VERIFY_TOKEN,
BOT_PHONE_NUMBER_ID, GRAPH_URL (BOT_ACCESS_TOKEN optional) set; the webhook is ``/webhook``.
"""

from __future__ import annotations

import os

import httpx
from pywa import WhatsApp, types, utils

GRAPH_HOST = "graph.facebook.com"


class ToGraphSimulator(httpx.BaseTransport):
    """Sends what pywa addresses to graph.facebook.com to the simulator at ``graph_url`` instead."""

    def __init__(self, graph_url: str) -> None:
        self._graph = httpx.URL(graph_url)
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != GRAPH_HOST:
            raise httpx.ConnectError(f"the echo bot only talks to {GRAPH_HOST}", request=request)
        request.url = request.url.copy_with(
            scheme=self._graph.scheme, host=self._graph.host, port=self._graph.port
        )
        request.headers["Host"] = request.url.netloc.decode("ascii")
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


wa = WhatsApp(
    phone_id=os.environ["BOT_PHONE_NUMBER_ID"],
    token=os.environ.get("BOT_ACCESS_TOKEN") or "echo-bot-token",
    session=httpx.Client(transport=ToGraphSimulator(os.environ["GRAPH_URL"]), timeout=10),
    verify_token=os.environ["BOT_VERIFY_TOKEN"],
    app_secret=os.environ["BOT_APP_SECRET"],
    webhook_endpoint="/webhook",
    user_identifier_priority=(
        utils.UserIdentifier.WA_ID,
        utils.UserIdentifier.BSUID,
        utils.UserIdentifier.PARENT_BSUID,
    ),
)


def _echo(update: types.Message | types.CallbackButton | types.CallbackSelection, said: str) -> None:
    update.indicate_typing()  # marks the message read and shows "typing…" until the reply
    update.reply_text(f"Echo: {said}")


@wa.on_message
def echo_message(_: WhatsApp, msg: types.Message) -> None:
    _echo(msg, msg.text or msg.caption or str(msg.type))


@wa.on_callback_button
def echo_button(_: WhatsApp, btn: types.CallbackButton) -> None:
    _echo(btn, btn.title)


@wa.on_callback_selection
def echo_selection(_: WhatsApp, sel: types.CallbackSelection) -> None:
    _echo(sel, sel.title)


if __name__ == "__main__":
    wa.run(host="127.0.0.1", port=int(os.environ["BOT_PORT"]), log_level="warning")
