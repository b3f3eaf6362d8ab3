"""A second, independent WhatsApp Cloud API bot (stdlib only, not easyMO) that proves the protocol
smoke layer asserts the protocol, not our reference service's details: it answers 403 (not 401) to a
bad signature, 'OK' bodies, and replies with a plain echo.

Run with BOT_PORT, BOT_APP_SECRET, BOT_VERIFY_TOKEN, BOT_PHONE_NUMBER_ID and GRAPH_URL set.
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
seen: set[str] = set()


def reply(to: str, text: str) -> None:
    data = json.dumps(
        {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": text}}
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
                for message in change.get("value", {}).get("messages", []):
                    if message["id"] not in seen:
                        seen.add(message["id"])
                        reply(
                            message["from"], "Echo: " + message.get("text", {}).get("body", message["type"])
                        )


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["BOT_PORT"])), Handler).serve_forever()
