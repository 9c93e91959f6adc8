"""WeCom's callback endpoint, one URL per tenant: `/wecom/{tenant_id}/callback`.

GET answers WeCom's URL verification with the bare decrypted echostr. POST verifies, decrypts and parses one event,
puts it on SQS (new friends on the realtime queue: their WelcomeCode lives 20 s) and answers 200 with an empty body
at once; the workers do everything else. Nothing is enqueued for a request that fails any check:

    body over 64 KiB → 413 · missing signature parameters, a timestamp that is not 1 to 10 ASCII digits or is outside
    the replay window, an unknown or malformed tenant id, a bad signature, a foreign receive id → 401 · no echostr,
    DTD, entities or broken XML (envelope or decrypted event), undecryptable payload → 400

The checks that need no tenant come first, and an unknown tenant gets exactly the answer of a bad signature (same
status, same body), so tenant ids cannot be enumerated without a valid signature.

Replays: a POST whose (tenant, msg_signature) this process already accepted within the replay window is not queued
again and is answered 200 with an empty body, as the first time. The signature covers the token, timestamp, nonce and
ciphertext, so only a byte-for-byte copy matches; the party that legitimately sends one is WeCom retrying a delivery
whose answer it did not get in 5 s, for which a 4xx would only count as a failed delivery and bring more retries. A
claim is given back when queueing fails, so WeCom's retry of that callback is accepted. The cache is per process
(what a Lambda does cheaply, with no DynamoDB write on this path); a replay that reaches another process is queued
once more and stops at the event workers' DynamoDB dedupe claim on the event's dedupe key (kept 4 days), so it has
no second effect and a shared nonce table would buy nothing but a write per callback. A GET replay is not refused:
it changes nothing and answers what the captured answer already showed.

Credentials come from `tenants.get_callback_credentials`, which caches them per tenant in memory (60 s; unknown
tenants 10 s; bounded in size). The tenant's "last callback" usage stamp is written from here at most once per tenant
per minute per process, with the callbacks counted meanwhile, so the hot path rarely touches DynamoDB and a failed
usage write never fails a callback.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from chalice import BadRequestError, Blueprint, ChaliceViewError, Response, UnauthorizedError

from chalicelib import queues, resources
from chalicelib.config import get_settings
from chalicelib.domain.replay_cache import ReplayCache
from chalicelib.observability import bind_context, logger
from chalicelib.store.keys import TENANT_ID_PATTERN

if TYPE_CHECKING:
    from chalicelib.wecom.crypto import CallbackCryptoError, WeComCrypto
    from chalicelib.wecom.events import WeComEvent

callbacks = Blueprint(__name__)

CALLBACK_PATH = "/wecom/{tenant_id}/callback"
MAX_BODY_BYTES = 64 * 1024
USAGE_FLUSH_SECONDS = 60.0
# WeCom posts text/xml; application/json is what Chalice assumes when a request has no Content-Type at all.
CONTENT_TYPES = ["text/xml", "application/xml", "text/plain", "application/json"]
_PLAIN_TEXT = {"Content-Type": "text/plain; charset=utf-8"}
TIMESTAMP_PATTERN = re.compile(r"[0-9]{1,10}")
SIGNATURE_FAILED = "signature verification failed"
REPLAY_CACHE_MAX = 10_000
_accepted = ReplayCache(REPLAY_CACHE_MAX)


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
    """The echostr's plaintext, after the timestamp, the tenant and the signature have been checked."""
    from chalicelib.wecom.crypto import CallbackCryptoError

    msg_signature, timestamp, nonce = _signed_params(query)
    echostr = query.get("echostr")
    if not echostr:
        raise BadRequestError("echostr is required")
    crypto = _crypto_for(tenant_id)
    bind_context(tenant_id=tenant_id)
    try:
        # Query decoding may turn an unencoded '+' of the base64 echostr into a space; base64 has no spaces.
        plaintext = crypto.verify_url(msg_signature, timestamp, nonce, echostr.replace(" ", "+"))
    except CallbackCryptoError as error:
        raise _rejection(error) from None
    _note_callback(tenant_id)
    logger.info("wecom url verified")
    return plaintext


def accept_callback(
    tenant_id: str, query: Mapping[str, str], body: bytes | str, request_id: str | None
) -> WeComEvent | None:
    """Check, decrypt and parse one POSTed callback and enqueue its event; returns the event, or None for a replay
    of a callback this process already queued (not queued again)."""
    from chalicelib.wecom.crypto import CallbackCryptoError
    from chalicelib.wecom.events import parse_event

    correlation_id = request_id or str(uuid.uuid4())
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"callback bodies are limited to {MAX_BODY_BYTES} bytes")
    msg_signature, timestamp, nonce = _signed_params(query)
    crypto = _crypto_for(tenant_id)
    bind_context(tenant_id=tenant_id, correlation_id=correlation_id)
    try:
        event = parse_event(crypto.decrypt_message(body, msg_signature, timestamp, nonce))
    except CallbackCryptoError as error:
        raise _rejection(error) from None
    seen = (tenant_id, msg_signature)
    if not _accepted.claim(seen, int(timestamp) + get_settings().callback_replay_window_seconds, time.time()):
        logger.warning("wecom callback replay not queued", extra={"kind": event.kind})
        return None
    queue = resources.EVENTS_REALTIME if event.is_realtime else resources.EVENTS
    message = {**event.to_message(), "tenant_id": tenant_id, "received_at": int(time.time())}
    try:
        queues.publish(queue, message, tenant_id=tenant_id, correlation_id=correlation_id)
    except BaseException:
        _accepted.release(seen)
        raise
    _note_callback(tenant_id)
    logger.info("wecom callback queued", extra={"kind": event.kind, "queue": queue.logical})
    return event


def _crypto_for(tenant_id: str) -> WeComCrypto:
    """The tenant's verifier; a malformed or unregistered id is answered exactly as a bad signature is."""
    from chalicelib.store import tenants
    from chalicelib.wecom.crypto import WeComCrypto

    credentials = tenants.get_callback_credentials(tenant_id) if TENANT_ID_PATTERN.fullmatch(tenant_id) else None
    if credentials is None:
        logger.warning("wecom callback rejected", extra={"reason": "UnknownTenant"})
        raise UnauthorizedError(SIGNATURE_FAILED)
    return WeComCrypto(credentials.token, credentials.encoding_aes_key, credentials.corp_id)


def _signed_params(query: Mapping[str, str]) -> tuple[str, str, str]:
    """msg_signature, timestamp, nonce; 401 when one is missing or the timestamp is not 1 to 10 ASCII digits inside
    the replay window (`str.isdigit` would take other scripts' digits and numbers too large for a float)."""
    msg_signature, timestamp, nonce = (query.get(name) or "" for name in ("msg_signature", "timestamp", "nonce"))
    if not (msg_signature and timestamp and nonce):
        raise UnauthorizedError("msg_signature, timestamp and nonce are required")
    window = get_settings().callback_replay_window_seconds
    if not TIMESTAMP_PATTERN.fullmatch(timestamp) or abs(time.time() - int(timestamp)) > window:
        raise UnauthorizedError("timestamp outside the replay window")
    return msg_signature, timestamp, nonce


def _rejection(error: CallbackCryptoError) -> ChaliceViewError:
    """The HTTP error for a callback that failed verification, decryption or parsing (logged without content)."""
    from chalicelib.wecom.crypto import InvalidReceiveId, InvalidSignature, MalformedXml

    logger.warning("wecom callback rejected", extra={"reason": type(error).__name__, "code": error.code})
    if isinstance(error, InvalidSignature | InvalidReceiveId):
        return UnauthorizedError(SIGNATURE_FAILED)
    if isinstance(error, MalformedXml):
        return BadRequestError("malformed or unsafe XML")
    return BadRequestError("undecryptable payload")


_usage_lock = threading.Lock()
_unrecorded: dict[str, int] = {}
_recorded_at: dict[str, float] = {}


def _note_callback(tenant_id: str) -> None:
    """Count the callback; write the count and "last seen" at most once per tenant per USAGE_FLUSH_SECONDS."""
    from chalicelib.store import usage

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
