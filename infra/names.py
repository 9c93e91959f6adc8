"""Logical ids of the stack's resources, shared by the template's parts and the tests that read it."""

from __future__ import annotations

from chalice.utils import to_cfn_resource_name

from chalicelib import resources

ALERTS_TOPIC = "AlertsTopic"
API_HANDLER = "api_handler"
"""Chalice's name for the one function behind every route."""


def table_id(table: resources.Table) -> str:
    return to_cfn_resource_name(table.logical) + "Table"


def queue_id(queue: resources.Queue) -> str:
    return to_cfn_resource_name(queue.logical) + "Queue"


def dlq_id(queue: resources.Queue) -> str:
    return to_cfn_resource_name(queue.logical) + "DeadLetterQueue"


def function_id(name: str) -> str:
    """The logical id Chalice's SAM generator gives the function called `name`."""
    return "APIHandler" if name == API_HANDLER else to_cfn_resource_name(name)


def role_id(name: str) -> str:
    return function_id(name) + "Role"
