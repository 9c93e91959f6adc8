"""Liveness: answers without touching any table, so load balancers and the local stack can wait for it."""

from chalice import Blueprint

health = Blueprint(__name__)


@health.route("/health", methods=["GET"])
def get_health() -> dict[str, str]:
    return {"status": "ok"}
