"""Qiwei Reach: the Chalice app. It only registers blueprints and event handlers; the logic lives in chalicelib.

Worker bodies are imported inside their handlers so that the API function's cold start does not pay for them.
"""

from chalice import Chalice

from chalicelib.api.health import health

app = Chalice(app_name="qiwei-reach")
app.register_blueprint(health)
