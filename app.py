"""Qiwei Reach: the Chalice app. It only registers blueprints and event handlers; the logic lives in chalicelib.

Worker bodies are imported inside their handlers so that the API function's cold start does not pay for them.
"""

from chalice import Chalice

from chalicelib.api.admin_access import admin_access
from chalicelib.api.auth import auth
from chalicelib.api.callbacks import callbacks
from chalicelib.api.health import health
from chalicelib.api.openapi import docs
from chalicelib.api.ops import ops
from chalicelib.observability import invocation_context_middleware

app = Chalice(app_name="qiwei-reach")
app.register_middleware(invocation_context_middleware())
app.register_blueprint(health)
app.register_blueprint(auth)
app.register_blueprint(ops)
app.register_blueprint(admin_access)
app.register_blueprint(docs)
app.register_blueprint(callbacks)
