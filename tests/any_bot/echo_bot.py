"""A second, independent WhatsApp Cloud API bot (stdlib only, not easyMO) that proves the protocol
smoke layer asserts the protocol, not our reference service's details: it answers 403 (not 401) to a
bad signature, 'OK' bodies, and replies with a plain echo.

Since 2026 it answers a user by phone while Meta shows it (`to`), else by BSUID (`recipient`, from
`from_user_id`), and echoes what users say, not Meta's notices (statuses, system messages).

Run with BOT_PORT, BOT_APP_SECRET, BOT_VERIFY_TOKEN, BOT_PHONE_NUMBER_ID and GRAPH_URL set. ECHO_BOT_FLAWS
(comma-separated) makes it a worse bot, to prove the protocol checks notice (tests/unit/test_any_bot.py):
``phone_only`` answers `from` alone, as bots did before 2026 (a username-only user gets nothing);
``answers_system`` echoes system messages too, at the sender they name (after user_changed_user_id: the
retired BSUID); ``answers_statuses`` answers every status callback.
"""

import hashlib
import hmac
import json
import os
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

SECRET = os.environ["BOT_APP_SECRET"].encode()
VERIFY_TOKEN = os.environ["BOT_VERIFY_TOKEN"]
PHONE_ID = os.environ["BOT_PHONE_NUMBER_ID"]
GRAPH = os.environ["GRAPH_URL"].rstrip("/")
FLAWS = set(filter(None, os.environ.get("ECHO_BOT_FLAWS", "").split(",")))
seen: set[str] = set()


def reply(to: str | None, text: str, user_id: str | None = None) -> None:
    if to is None and (user_id is None or "phone_only" in FLAWS):
        return  # nobody this bot can address
    address = {"to": to} if to is not None else {"recipient": user_id}
    data = json.dumps(
        {"messaging_product": "whatsapp", **address, "type": "text", "text": {"body": text}}
    ).encode()
    request = urllib.request.Request(
        f"{GRAPH}/v21.0/{PHONE_ID}/messages",
        data,
        {"Content-Type": "application/json", "Authorization": "Bearer x"},
    )
    urllib.request.urlopen(request, timeout=5).close()  # noqa: S310 - loopback simulator only


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def answer(self, code: int, body: str) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())

    def do_GET(self) -> None:  # noqa: N802
        q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        if q.get("hub.mode") == "subscribe" and q.get("hub.verify_token") == VERIFY_TOKEN:
            return self.answer(200, q.get("hub.challenge", ""))
        self.answer(403, "Forbidden")

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, self.headers.get("X-Hub-Signature-256", "")):
            return self.answer(403, "bad signature")
        self.answer(200, "OK")
        for entry in json.loads(body).get("entry", []):
            for change in entry.get("changes", []):
                value = change.get("value", {})
                for message in value.get("messages", []):
                    if message["id"] in seen or (
                        message["type"] == "system" and "answers_system" not in FLAWS
                    ):
                        continue
                    seen.add(message["id"])
                    said = message.get("text", {}).get("body", message["type"])
                    reply(message.get("from"), "Echo: " + said, message.get("from_user_id"))
                if "answers_statuses" in FLAWS:
                    for status in value.get("statuses", []):
                        reply(status.get("recipient_id"), "Thanks!", status.get("recipient_user_id"))


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["BOT_PORT"])), Handler).serve_forever()
