"""WeCom's callback endpoint, one URL per tenant: `/wecom/{tenant_id}/callback`.

GET answers WeCom's URL verification with the bare decrypted echostr. POST verifies, decrypts and parses one event,
puts it on SQS (new friends on the realtime queue: their WelcomeCode lives 20 s) and answers 200 with an empty body
at once; the workers do everything else. Nothing is enqueued for a request that fails any check:

    unknown tenant → 404 · body over 64 KiB → 413 · missing/bad signature, foreign receive id or a timestamp outside
    the replay window → 401 · DTD, entities or broken XML (envelope or decrypted event), undecryptable payload → 400

Credentials come from `tenants.get_callback_credentials`, which caches them per tenant in memory (60 s; unknown
tenants 10 s). The tenant's "last callback" usage stamp is written from here at most once per tenant per minute per
process, with the callbacks counted meanwhile, so the hot path rarely touches DynamoDB and a failed usage write never
fails a callback.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping

from botocore.exceptions import BotoCoreError, ClientError
from chalice import BadRequestError, Blueprint, ChaliceViewError, NotFoundError, Response, UnauthorizedError

from chalicelib import queues, resources
from chalicelib.config import get_settings
from chalicelib.observability import bind_context, logger
from chalicelib.store import tenants, usage
from chalicelib.store.keys import TENANT_ID_PATTERN
from chalicelib.wecom.crypto import (
    CallbackCryptoError,
    InvalidReceiveId,
    InvalidSignature,
    MalformedXml,
    WeComCrypto,
)
from chalicelib.wecom.events import WeComEvent, parse_event

callbacks = Blueprint(__name__)

CALLBACK_PATH = "/wecom/{tenant_id}/callback"
MAX_BODY_BYTES = 64 * 1024
USAGE_FLUSH_SECONDS = 60.0
# WeCom posts text/xml; application/json is what Chalice assumes when a request has no Content-Type at all.
CONTENT_TYPES = ["text/xml", "application/xml", "text/plain", "application/json"]
_PLAIN_TEXT = {"Content-Type": "text/plain; charset=utf-8"}


class PayloadTooLargeError(ChaliceViewError):
    STATUS_CODE = 413


@callbacks.route(CALLBACK_PATH, methods=["GET"], content_types=CONTENT_TYPES)
def verify_callback_url(tenant_id: str) -> Response:
    request = callbacks.current_request
    return Response(body=answer_url_verification(tenant_id, request.query_params or {}), headers=_PLAIN_TEXT)


@callbacks.route(CALLBACK_PATH, methods=["POST"], content_types=CONTENT_TYPES)
def receive_callback(tenant_id: str) -> Response:
    request = callbacks.current_request
    accept_callback(tenant_id, request.query_params or {}, request.raw_body, request.context.get("requestId"))
    return Response(body="", headers=_PLAIN_TEXT)


def answer_url_verification(tenant_id: str, query: Mapping[str, str]) -> str:
    """The echostr's plaintext, after the tenant, the timestamp and the signature have been checked."""
    crypto = _crypto_for(tenant_id)
    bind_context(tenant_id=tenant_id)
    msg_signature, timestamp, nonce = _signed_params(query)
    echostr = query.get("echostr")
    if not echostr:
        raise BadRequestError("echostr is required")
    try:
        # Query decoding may turn an unencoded '+' of the base64 echostr into a space; base64 has no spaces.
        plaintext = crypto.verify_url(msg_signature, timestamp, nonce, echostr.replace(" ", "+"))
    except CallbackCryptoError as error:
        raise _rejection(error) from None
    _note_callback(tenant_id)
    logger.info("wecom url verified")
    return plaintext


def accept_callback(tenant_id: str, query: Mapping[str, str], body: bytes | str, request_id: str | None) -> WeComEvent:
    """Check, decrypt and parse one POSTed callback and enqueue its event; returns the event."""
    correlation_id = request_id or str(uuid.uuid4())
    crypto = _crypto_for(tenant_id)
    bind_context(tenant_id=tenant_id, correlation_id=correlation_id)
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"callback bodies are limited to {MAX_BODY_BYTES} bytes")
    msg_signature, timestamp, nonce = _signed_params(query)
    try:
        event = parse_event(crypto.decrypt_message(body, msg_signature, timestamp, nonce))
    except CallbackCryptoError as error:
        raise _rejection(error) from None
    queue = resources.EVENTS_REALTIME if event.is_realtime else resources.EVENTS
    message = {**event.to_message(), "tenant_id": tenant_id, "received_at": int(time.time())}
    queues.publish(queue, message, tenant_id=tenant_id, correlation_id=correlation_id)
    _note_callback(tenant_id)
    logger.info("wecom callback queued", extra={"kind": event.kind, "queue": queue.logical})
    return event


def _crypto_for(tenant_id: str) -> WeComCrypto:
    """The tenant's verifier, or 404 — the same answer whether the id is malformed or simply not registered."""
    credentials = tenants.get_callback_credentials(tenant_id) if TENANT_ID_PATTERN.match(tenant_id) else None
    if credentials is None:
        raise NotFoundError("Not found")
    return WeComCrypto(credentials.token, credentials.encoding_aes_key, credentials.corp_id)


def _signed_params(query: Mapping[str, str]) -> tuple[str, str, str]:
    """msg_signature, timestamp, nonce; 401 when one is missing or the timestamp is outside the replay window."""
    msg_signature, timestamp, nonce = (query.get(name) or "" for name in ("msg_signature", "timestamp", "nonce"))
    if not (msg_signature and timestamp and nonce):
        raise UnauthorizedError("msg_signature, timestamp and nonce are required")
    window = get_settings().callback_replay_window_seconds
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > window:
        raise UnauthorizedError("timestamp outside the replay window")
    return msg_signature, timestamp, nonce


def _rejection(error: CallbackCryptoError) -> ChaliceViewError:
    """The HTTP error for a callback that failed verification, decryption or parsing (logged without content)."""
    logger.warning("wecom callback rejected", extra={"reason": type(error).__name__, "code": error.code})
    if isinstance(error, InvalidSignature | InvalidReceiveId):
        return UnauthorizedError("signature verification failed")
    if isinstance(error, MalformedXml):
        return BadRequestError("malformed or unsafe XML")
    return BadRequestError("undecryptable payload")


_usage_lock = threading.Lock()
_unrecorded: dict[str, int] = {}
_recorded_at: dict[str, float] = {}


def _note_callback(tenant_id: str) -> None:
    """Count the callback; write the count and "last seen" at most once per tenant per USAGE_FLUSH_SECONDS."""
    now = time.monotonic()
    with _usage_lock:
        _unrecorded[tenant_id] = _unrecorded.get(tenant_id, 0) + 1
        last = _recorded_at.get(tenant_id)
        if last is not None and now - last < USAGE_FLUSH_SECONDS:
            return
        count = _unrecorded.pop(tenant_id)
        _recorded_at[tenant_id] = now
    try:
        usage.record_usage(tenant_id, usage.CALLBACKS, count)
    except (BotoCoreError, ClientError):
        logger.exception("usage write failed; kept for the next flush")
        with _usage_lock:
            _unrecorded[tenant_id] = _unrecorded.get(tenant_id, 0) + count
