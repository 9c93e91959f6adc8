"""A Chalice app for the worker-process tests: importable by module name, as every worker process imports it."""

from __future__ import annotations

import os
import time
from typing import Any

from chalice import Chalice

app = Chalice(app_name="isolationtest")


@app.lambda_function(name="describe")
def describe(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """What a worker is: its process, the Lambda context it was given; `sleep` seconds first, `raise` to fail,
    `exit` to die without answering."""
    if event.get("exit"):
        os._exit(3)
    time.sleep(event.get("sleep", 0))
    if event.get("raise"):
        raise RuntimeError("asked to fail")
    return {
        "pid": os.getpid(),
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "marker": os.environ.get("ISOLATION_MARKER", ""),
    }
