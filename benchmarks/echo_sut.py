"""A minimal WhatsApp bot for the load benchmark: checks the signature, ACKs at once, and echoes the text back
through the Graph API exactly ``--delay-ms`` after the webhook arrived (a known, injected reply latency).

    python benchmarks/echo_sut.py --port 8001 --graph-url http://127.0.0.1:8002 --app-secret S \
        --access-token T --phone-number-id 106540352242922 [--delay-ms 50]

Plain asyncio, HTTP/1.1 keep-alive on both sides, no framework: uvicorn's pure-Python HTTP parser and an
httpx client cost about 2.5 ms of CPU per message, which made this bot, not the load generator, the
bottleneck of the benchmark. It speaks just enough HTTP for Locust's clients and the Graph API simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
from urllib.parse import urlsplit


class GraphClient:
    """POSTs replies over a small pool of keep-alive connections to the Graph API simulator."""

    def __init__(self, graph_url: str, phone_number_id: str, access_token: str) -> None:
        parts = urlsplit(graph_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = f"{parts.path.rstrip('/')}/v21.0/{phone_number_id}/messages"
        self.token = access_token
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, message: dict[str, object]) -> int:
        body = json.dumps(message, separators=(",", ":")).encode()
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        while True:
            reused = bool(self.idle)
            reader, writer = (
                self.idle.pop() if reused else await asyncio.open_connection(self.host, self.port)
            )
            try:
                return await self._exchange(reader, writer, head + body)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()
                if not reused:  # a fresh connection failed: the simulator is gone
                    raise
                # else the server had closed that idle connection (keep-alive timeout): try another

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> int:
        writer.write(request)
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionResetError("the connection was closed")
        length, keep = 0, True
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                keep = False
        await reader.readexactly(length)
        if keep:
            self.idle.append((reader, writer))
        else:
            writer.close()
        return int(status_line.split()[1])


class EchoBot:
    def __init__(self, args: argparse.Namespace) -> None:
        self.secret = args.app_secret.encode()
        self.delay = args.delay_ms / 1000
        self.graph = GraphClient(args.graph_url, args.phone_number_id, args.access_token)
        self.tasks: set[asyncio.Task[None]] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                arrived = asyncio.get_running_loop().time()
                status, text = self.handle(request_line.split()[0], headers, body, arrived)
                head = (
                    f"HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {len(text)}\r\n\r\n"
                )
                writer.write(head.encode() + text)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    def handle(
        self, method: bytes, headers: dict[str, str], body: bytes, arrived: float
    ) -> tuple[int, bytes]:
        if method == b"GET":
            return 200, b"ok"
        expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(headers.get("x-hub-signature-256", ""), expected):
            return 401, b"bad signature"
        value = json.loads(body)["entry"][0]["changes"][0]["value"]
        for message in value.get("messages", []):
            if message.get("type") == "text":
                task = asyncio.create_task(self.reply(arrived, message["from"], message["text"]["body"]))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        return 200, b"EVENT_RECEIVED"

    async def reply(self, arrived: float, to: str, text: str) -> None:
        # The reply leaves `delay` after the webhook arrived, whatever this bot spent on it meanwhile.
        wait = self.delay - (asyncio.get_running_loop().time() - arrived)
        if wait > 0:
            await asyncio.sleep(wait)
        await self.graph.post(
            {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": f"echo: {text}"}}
        )


async def run(args: argparse.Namespace) -> None:
    server = await asyncio.start_server(EchoBot(args).serve, "127.0.0.1", args.port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--graph-url", required=True)
    parser.add_argument("--app-secret", required=True)
    parser.add_argument("--access-token", required=True)
    parser.add_argument("--phone-number-id", required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
