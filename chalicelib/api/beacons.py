"""The public tracking intake: `POST /t/beacons` and `POST /t/leads` from shared pages and mini-programs.

No API key: the share token in the body says which tenant, and is verified without a database read. Bodies may come
as `text/plain` (what `navigator.sendBeacon` sends, no CORS preflight) or `application/json`. A request from a
browser origin other than the stack's own or one the tenant listed is refused (403) without being queued, and
answers carry `Access-Control-Allow-Origin` only for allowed origins. Answers are JSON: 202 with the accepted
count and the rejected events with reasons; refusals as every route's ({"Code", "Message"}): 400/413 for a body
that is not a batch, 404 for an unknown link, 429 over the per-token or per-IP limits.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.config import get_settings

beacons = Blueprint(__name__)

CONTENT_TYPES = ["text/plain", "application/json"]
REFUSALS = {
    400: "BadRequestError",
    403: "ForbiddenError",
    404: "NotFoundError",
    413: "RequestEntityTooLargeError",
    429: "TooManyRequestsError",
}
"""Refusals read as every other route's (Chalice's `Code` and `Message`)."""
PREFLIGHT_MAX_AGE = "600"


def _headers(origin: str | None, allowed: bool) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    if origin and allowed:
        headers |= {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return headers


def _answer(handler: Any) -> Response:
    from chalicelib.services.beacon_intake import IntakeRefused

    request = beacons.current_request
    origin = (request.headers or {}).get("origin")
    source_ip = ((request.context or {}).get("identity") or {}).get("sourceIp") or ""
    try:
        body = handler(request.raw_body or b"", origin, source_ip)
    except IntakeRefused as refused:
        answer = {"Code": REFUSALS.get(refused.status, "BadRequestError"), "Message": refused.reason}
        return Response(answer, status_code=refused.status, headers=_headers(origin, False))
    return Response(body, status_code=202, headers=_headers(origin, True))


@beacons.route("/t/beacons", methods=["POST"], content_types=CONTENT_TYPES)
def post_beacons() -> Response:
    from chalicelib.services.beacon_intake import accept_beacons

    return _answer(accept_beacons)


@beacons.route("/t/leads", methods=["POST"], content_types=CONTENT_TYPES)
def post_lead() -> Response:
    from chalicelib.services.beacon_intake import accept_lead

    return _answer(accept_lead)


@beacons.route("/t/beacons", methods=["OPTIONS"])
@beacons.route("/t/leads", methods=["OPTIONS"])
def preflight() -> Response:
    """A JSON fetch from the stack's own page asks first; other origins post text/plain, which needs no preflight."""
    from chalicelib.services.beacon_intake import origin_of

    origin = (beacons.current_request.headers or {}).get("origin")
    own = origin_of(get_settings().public_base_url)
    headers = {"Access-Control-Max-Age": PREFLIGHT_MAX_AGE, "Vary": "Origin"}
    if origin and origin == own:
        headers |= {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type",
        }
    return Response("", status_code=204, headers=headers)
