"""The WeCom server API over one pooled httpx client per process.

`WeComClient(credentials, tokens, settings).get(api, params)` / `.post(api, body, retry_safe=...)` return the decoded
JSON of an `errcode == 0` answer and raise the typed errors of `chalicelib.wecom.errors` otherwise:

- the access token is added by the client and refreshed transparently once on 40014/42001/41001; on 40001/40013/40091
  the credentials are read again first (the secret may have been rotated);
- reads (`retry_safe=True`) are retried with exponential backoff and full jitter on -1 and transport errors;
- calls that create something (`retry_safe=False`) are never repeated once the request may have left: a read
  timeout or a broken answer raises `OutcomeUnknown`; a connect error (nothing was sent) is retried;
- 45009/45033 are raised at once (`RateLimited`, `ConcurrencyLimited`): the worker puts its message back with a delay;
- in-process, at most `max_concurrency` calls of one API of one corp are in flight (WeCom answers 45033 beyond a
  small, undocumented concurrency).

Tokens and secrets travel only in query strings and never reach logs or exception messages: the client logs the API
path, and httpx's own request log lines are redacted.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from chalicelib.config import Settings, get_settings
from chalicelib.domain.access_token import AccessToken
from chalicelib.domain.credentials import AppCredentials
from chalicelib.domain.wecom_limits import ACCESS_TOKEN_DEFAULT_TTL_SECONDS, SYSTEM_BUSY_MAX_RETRIES
from chalicelib.observability import logger, record_wecom_call
from chalicelib.wecom import errors
from chalicelib.wecom.access_token import AccessTokens

GETTOKEN_API = "gettoken"
MAX_CONCURRENT_CALLS_PER_API = 8
BACKOFF_BASE_SECONDS = 0.2
BACKOFF_CAP_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 3.0
POOL_TIMEOUT_SECONDS = 5.0

_SECRET_QUERY = re.compile(r"(\b(?:access_token|corpsecret|secret|js_code|code)=)[^&\s'\"]+", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with the values of `access_token=`, `corpsecret=` (WeCom) and `secret=`, `code=`, `js_code=` (WeChat)
    query parameters masked (for URLs in logs)."""
    return _SECRET_QUERY.sub(r"\1***", text)


class _RedactQueryFilter(logging.Filter):
    """Masks tokens in httpx's "HTTP Request: GET <url>" lines before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


_pools: dict[tuple[str, float], httpx.Client] = {}
_pools_mutex = threading.Lock()
_semaphores: dict[tuple[str, str], threading.BoundedSemaphore] = {}
_semaphores_mutex = threading.Lock()


def http_pool(settings: Settings) -> httpx.Client:
    """The process's pooled client for WeCom (created on first use, reused by every warm invocation)."""
    key = (settings.wecom_base_url, settings.wecom_timeout_seconds)
    with _pools_mutex:
        pool = _pools.get(key)
        if pool is None:
            pool = httpx.Client(
                base_url=settings.wecom_base_url,
                timeout=httpx.Timeout(
                    connect=CONNECT_TIMEOUT_SECONDS,
                    read=settings.wecom_timeout_seconds,
                    write=settings.wecom_timeout_seconds,
                    pool=POOL_TIMEOUT_SECONDS,
                ),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=30.0),
            )
            _pools[key] = pool
        return pool


def redact_httpx_request_logs() -> None:
    """Mask secrets in httpx's request log lines (idempotent)."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactQueryFilter) for f in httpx_logger.filters):
        httpx_logger.addFilter(_RedactQueryFilter())


def _api_semaphore(corp_id: str, api: str, size: int) -> threading.BoundedSemaphore:
    with _semaphores_mutex:
        return _semaphores.setdefault((corp_id, api), threading.BoundedSemaphore(size))


class _NotSent(Exception):
    """The request never reached WeCom (connect failure, no pooled connection)."""


class _MaybeSent(Exception):
    """The request may have reached WeCom, but no usable answer came back."""


CredentialsSource = AppCredentials | Callable[[], AppCredentials]


class WeComClient:
    """Calls WeCom's server API as one app of one corp."""

    def __init__(
        self,
        credentials: CredentialsSource,
        tokens: AccessTokens,
        settings: Settings | None = None,
        *,
        http: httpx.Client | None = None,
        max_attempts: int = 1 + SYSTEM_BUSY_MAX_RETRIES,
        max_concurrency: int = MAX_CONCURRENT_CALLS_PER_API,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        redact_httpx_request_logs()
        self._read_credentials = credentials if callable(credentials) else (lambda: credentials)
        self._credentials = self._read_credentials()
        self._tokens = tokens
        settings = settings or get_settings()
        self._http = http or http_pool(settings)
        self._max_attempts = max_attempts
        self._max_concurrency = max_concurrency
        self._sleep = sleep
        self._jitter = jitter
        self._clock = clock

    @property
    def corp_id(self) -> str:
        return self._credentials.corp_id

    @property
    def agent_id(self) -> int:
        return self._credentials.agent_id

    def get(self, api: str, params: Mapping[str, Any] | None = None, *, retry_safe: bool = True) -> dict[str, Any]:
        """GET `cgi-bin/<api>` with `params`; reads are retry-safe unless told otherwise."""
        return self._call("GET", api, dict(params or {}), None, retry_safe)

    def post(self, api: str, body: Mapping[str, Any], *, retry_safe: bool) -> dict[str, Any]:
        """POST `body` as JSON to `cgi-bin/<api>`; say whether repeating it could create something twice."""
        return self._call("POST", api, {}, dict(body), retry_safe)

    def upload(
        self, api: str, params: Mapping[str, Any], files: Mapping[str, tuple[str, bytes, str]]
    ) -> dict[str, Any]:
        """POST a multipart form to `cgi-bin/<api>` (`media/upload`: field `media` = (filename, bytes, type)).

        Retry-safe: a repeated upload only makes one more media id, which nothing else refers to."""
        return self._call("POST", api, dict(params), None, True, dict(files))

    def _call(
        self,
        method: str,
        api: str,
        params: dict[str, Any],
        body: dict[str, Any] | None,
        retry_safe: bool,
        files: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        refreshed = False
        while True:
            try:
                token = self._tokens.get(self._credentials, self._fetch_token)
            except errors.CredentialsInvalid:
                if refreshed:
                    raise
                refreshed = True
                self._credentials = self._read_credentials()
                continue
            answer = self._exchange(method, api, {**params, "access_token": token.value}, body, retry_safe, files)
            errcode = int(answer.get("errcode", 0))
            if errcode == 0:
                return answer
            if refreshed or errcode not in errors.TOKEN_ERRCODES | errors.CREDENTIAL_ERRCODES:
                raise errors.error_for(errcode, self._scrub(str(answer.get("errmsg", "")), token), api)
            refreshed = True
            self._tokens.invalidate(self._credentials, token)
            if errcode in errors.CREDENTIAL_ERRCODES:
                self._credentials = self._read_credentials()

    def _fetch_token(self, credentials: AppCredentials) -> AccessToken:
        issued_at = self._clock()
        query = {"corpid": credentials.corp_id, "corpsecret": credentials.secret}
        answer = self._exchange("GET", GETTOKEN_API, query, None, retry_safe=True)
        errcode = int(answer.get("errcode", 0))
        if errcode != 0:
            errmsg = redact(str(answer.get("errmsg", "")).replace(credentials.secret, "***"))
            raise errors.error_for(errcode, errmsg, GETTOKEN_API)
        lifetime = float(answer.get("expires_in") or ACCESS_TOKEN_DEFAULT_TTL_SECONDS)
        return AccessToken(value=str(answer["access_token"]), issued_at=issued_at, expires_at=issued_at + lifetime)

    def _exchange(
        self,
        method: str,
        api: str,
        query: dict[str, Any],
        body: dict[str, Any] | None,
        retry_safe: bool,
        files: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One call with its retries: the decoded answer, whatever its errcode (except -1 on retry-safe calls)."""
        attempt = 0
        while True:
            attempt += 1
            may_retry = attempt < self._max_attempts
            try:
                answer = self._send_once(method, api, query, body, attempt, files)
            except _NotSent as failure:
                if may_retry:
                    self._backoff(attempt)
                    continue
                raise errors.WeComUnavailable(api, str(failure)) from None
            except _MaybeSent as failure:
                if not retry_safe:
                    raise errors.OutcomeUnknown(api, str(failure)) from None
                if may_retry:
                    self._backoff(attempt)
                    continue
                raise errors.WeComUnavailable(api, str(failure)) from None
            if answer.get("errcode") == errors.SYSTEM_BUSY and retry_safe and may_retry:
                self._backoff(attempt)
                continue
            return answer

    def _send_once(
        self,
        method: str,
        api: str,
        query: dict[str, Any],
        body: dict[str, Any] | None,
        attempt: int,
        files: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        outcome = "transport"
        try:
            with _api_semaphore(self.corp_id, api, self._max_concurrency):
                try:
                    response = self._http.request(method, f"/cgi-bin/{api}", params=query, json=body, files=files)
                except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                    raise _NotSent(type(error).__name__) from None
                except httpx.TransportError as error:
                    raise _MaybeSent(type(error).__name__) from None
            if response.status_code != httpx.codes.OK:
                raise _MaybeSent(f"HTTP {response.status_code}")
            try:
                answer = response.json()
            except ValueError:
                raise _MaybeSent("answer is not JSON") from None
            if not isinstance(answer, dict):
                raise _MaybeSent("answer is not a JSON object")
            outcome = str(answer.get("errcode", 0))
            return answer
        finally:
            self._observe(api, outcome, (time.perf_counter() - started) * 1000, attempt)

    def _observe(self, api: str, outcome: str, duration_ms: float, attempt: int) -> None:
        fields = {"api": api, "errcode": outcome, "duration_ms": round(duration_ms, 1), "attempt": attempt}
        if outcome == "0":
            logger.info("wecom call", extra=fields)
        else:
            logger.warning("wecom call failed", extra=fields)
        record_wecom_call(api=api, errcode=outcome, duration_ms=duration_ms, attempt=attempt)

    def _backoff(self, attempt: int) -> None:
        """Full jitter: a uniform wait in [0, min(cap, base * 2^(attempt-1)))."""
        self._sleep(self._jitter() * min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)))

    def _scrub(self, text: str, token: AccessToken) -> str:
        return redact(text.replace(token.value, "***").replace(self._credentials.secret, "***"))
