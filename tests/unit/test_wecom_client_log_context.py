"""The app's invocation middleware: a warm Lambda does not carry one invocation's tenant id into the next."""

from __future__ import annotations

import io
import json

from chalice.test import Client

from app import app
from chalicelib.observability import bind_context, clear_context, logger


def _last_line_logged_after(action) -> dict:
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        action()
        logger.info("after the invocation")
    finally:
        logger.registered_handler.setStream(previous)
    return json.loads(stream.getvalue().splitlines()[-1])


def test_ids_bound_by_one_invocation_are_dropped_before_the_next():
    def invoke() -> None:
        with Client(app) as client:
            assert client.http.get("/health").status_code == 200

    bind_context(tenant_id="tenant-a", correlation_id="c-1")
    logger.thread_safe_append_keys(pump_request="r-1")
    try:
        line = _last_line_logged_after(invoke)
    finally:
        logger.thread_safe_clear_keys()
        clear_context()
    assert "tenant_id" not in line
    assert "correlation_id" not in line
    assert line["pump_request"] == "r-1"
    assert line["function_name"] == "api_handler"


def test_handlers_called_without_a_lambda_context_still_run():
    event = {
        "resource": "/health",
        "path": "/health",
        "httpMethod": "GET",
        "headers": {},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": "/health", "httpMethod": "GET"},
        "body": None,
        "isBase64Encoded": False,
    }
    bind_context(tenant_id="tenant-b")
    try:
        line = _last_line_logged_after(lambda: app(event, None))
        answer = app(event, None)
    finally:
        clear_context()
    assert answer["statusCode"] == 200
    assert "tenant_id" not in line
