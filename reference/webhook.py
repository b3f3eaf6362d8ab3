"""The HTTP face of the service: ``/wa-webhook`` (GET handshake, POST deliveries) and ``/health``.

POST checks run in easyMO's order: method, size (declared, then while streaming), signature over the
exact raw bytes, JSON. A request that passes them all gets 200 ``ok`` at once; its messages are queued
for background processing. Every response of ``/wa-webhook`` carries an ``X-Request-ID``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import uuid

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from . import __version__, defects, envelope
from .config import Settings
from .observability import EventLog
from .processing import Processor
from .store import Store

log = logging.getLogger("reference.webhook")

SIGNATURE_HEADER = "x-hub-signature-256"
_SIGNATURE_PREFIX = "sha256="
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


async def wa_webhook(request: Request) -> Response:
    request_id = _request_id(request)
    if request.method == "GET":
        response = _verify(request)
    elif request.method == "POST":
        response = await _receive(request, request_id)
    elif request.app.state.settings.has_defect(defects.ANY_METHOD_ACCEPTED):
        response = PlainTextResponse("ok")
    else:
        response = PlainTextResponse("Method Not Allowed", status_code=405, headers={"Allow": "GET, POST"})
    response.headers["X-Request-ID"] = request_id
    return response


def health(request: Request) -> Response:
    store: Store = request.app.state.store
    try:
        store.ping()
    except Exception:  # any failure means the database cannot serve us
        log.exception("health check: database unavailable")
        return JSONResponse({"status": "degraded", "db": "error", "version": __version__}, status_code=503)
    if request.app.state.settings.has_defect(defects.HEALTH_NOT_JSON):
        return PlainTextResponse("ok")
    return JSONResponse({"status": "ok", "db": "ok", "version": __version__})


def _verify(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    query = request.query_params
    token_ok = settings.has_defect(defects.VERIFY_ANY_TOKEN) or _same(
        query.get("hub.verify_token", ""), settings.verify_token
    )
    if query.get("hub.mode") == "subscribe" and token_ok:
        if settings.has_defect(defects.CHALLENGE_AS_JSON):
            return JSONResponse({"hub.challenge": query.get("hub.challenge", "")})
        return PlainTextResponse(query.get("hub.challenge", ""))
    return PlainTextResponse("forbidden", status_code=403)


async def _receive(request: Request, request_id: str) -> Response:
    settings: Settings = request.app.state.settings
    limit = None if settings.has_defect(defects.NO_BODY_LIMIT) else settings.webhook_max_bytes
    declared = request.headers.get("content-length", "")
    if limit is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        return PlainTextResponse("payload_too_large", status_code=413)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if limit is not None and len(body) > limit:  # chunked or lying Content-Length
                return PlainTextResponse("payload_too_large", status_code=413)
    except ClientDisconnect:
        return Response(status_code=400)
    raw = bytes(body)

    if not _signature_ok(settings, raw, request.headers.get(SIGNATURE_HEADER, "")):
        return PlainTextResponse("sig", status_code=401)
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        if settings.has_defect(defects.BAD_JSON_500):
            return PlainTextResponse("Internal Server Error", status_code=500)
        return PlainTextResponse("bad_json", status_code=400)

    try:
        _dispatch(request, payload, request_id)
    except Exception:
        # As easyMO does: answer 200 anyway, so Meta does not retry a payload we cannot handle.
        log.exception("could not dispatch webhook %s", request_id)
    return PlainTextResponse("ok")


def _dispatch(request: Request, payload: object, request_id: str) -> None:
    settings: Settings = request.app.state.settings
    events: EventLog = request.app.state.events
    processor: Processor = request.app.state.processor
    parsed = envelope.parse(payload, settings, request_id)
    for note in parsed.notes:
        events.record(request_id, note.name, note.phone, **note.data)
    processor.submit(parsed)


def _signature_ok(settings: Settings, raw: bytes, header: str) -> bool:
    if settings.has_defect(defects.NO_SIGNATURE_CHECK):
        return True
    if not header.startswith(_SIGNATURE_PREFIX):
        return False
    signed = raw
    if settings.has_defect(defects.SIGNATURE_OVER_REENCODED_JSON):
        try:
            signed = json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":")).encode()
        except (ValueError, RecursionError):
            signed = raw
    expected = hmac.new(settings.app_secret.encode(), signed, hashlib.sha256).hexdigest()
    return _same(header[len(_SIGNATURE_PREFIX) :].strip().lower(), expected)


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of two strings."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def _request_id(request: Request) -> str:
    supplied = request.headers.get("x-request-id", "")
    return supplied if _CLIENT_REQUEST_ID.fullmatch(supplied) else str(uuid.uuid4())
