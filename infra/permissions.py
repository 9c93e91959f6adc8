"""What each function may touch: the one place to declare it, and the least-privilege role built from it.

Every function of the app (each SQS, schedule and authorizer handler, and `api_handler`, the one function behind
every route) has an entry in `FUNCTIONS`: the tables it reads or writes, the queues it sends to, whether it reads or
writes the stage's secret parameters, and whether it calls WeCom (which puts it in the VPC, behind the NAT's fixed
IPs). The queue an SQS handler drains needs no entry: its consume rights come from the handler's event source.
A function without an entry stops the build with its name, so a new handler cannot ship with a borrowed role.

Actions are listed, never wildcards: reading is GetItem, BatchGetItem, Query and ConditionCheckItem (the condition
checks of a TransactWrite); writing adds PutItem, UpdateItem, DeleteItem and BatchWriteItem (a TransactWrite needs
just these). No function scans, and none describes a table (PynamoDB 6 takes the schema from its models). Secrets
are read (GetParameter, GetParameters) or also written (PutParameter: creation and rotation); none is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from chalicelib import resources
from infra.names import API_HANDLER, queue_id, table_id

Mode = Literal["read", "write"]

DYNAMODB_READ = (
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:GetItem",
    "dynamodb:Query",
)
DYNAMODB_WRITE = (
    *DYNAMODB_READ,
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)
SQS_SEND = ("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage")
SQS_CONSUME = ("sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage")
SSM_READ = ("ssm:GetParameter", "ssm:GetParameters")
SSM_WRITE = (*SSM_READ, "ssm:PutParameter")

T, D, R = resources.TENANTS.logical, resources.DATA.logical, resources.RUNTIME.logical
WORKER_TABLES: dict[str, Mode] = {T: "write", D: "write", R: "write"}
"""Workers that act for a tenant: its profile and usage counters (tenants), its customers, broadcasts and event log
(data), and the fleet's token buckets, access tokens and claims (runtime)."""


@dataclass(frozen=True)
class Access:
    """One function's needs. `tables` maps a table's logical name to read or write; `sends` names the queues (by
    logical name) it publishes to; `secrets` is "", "read" or "write"; `wecom` puts it in the VPC."""

    tables: dict[str, Mode]
    sends: tuple[str, ...] = ()
    secrets: Literal["", "read", "write"] = ""
    wecom: bool = False


EV_RT, EV, SYNC, PLAN, DISPATCH, BEACONS, ALERTS = (
    resources.EVENTS_REALTIME.logical,
    resources.EVENTS.logical,
    resources.SYNC.logical,
    resources.PLAN.logical,
    resources.DISPATCH.logical,
    resources.BEACONS.logical,
    resources.BEACON_ALERTS.logical,
)

FUNCTIONS: dict[str, Access] = {
    # Routes: admin and ops writes, callbacks and beacons queued (an open's alert straight to the alert queue),
    # tenants' and WeChat accounts' secrets created and rotated, admin calls to WeCom (materials, channels, tags,
    # transfers, groups, moments, links) and to WeChat (shared pages' OAuth, mini-program sessions).
    API_HANDLER: Access(WORKER_TABLES, sends=(EV_RT, EV, SYNC, PLAN, BEACONS, ALERTS), secrets="write", wecom=True),
    # The API-key authorizer: reads the key and the tenant, stamps the key's last use.
    "api_key": Access({T: "write"}),
    "on_wecom_new_friend": Access(WORKER_TABLES, sends=(EV,), secrets="read", wecom=True),
    "on_wecom_event": Access(WORKER_TABLES, sends=(EV,), secrets="read", wecom=True),
    "check_customer_transfers": Access(WORKER_TABLES, secrets="read", wecom=True),
    # Planning reads the audience, writes batches and arms the results timer (runtime); it calls no WeCom API.
    "plan_broadcast": Access({T: "read", D: "write", R: "write"}, sends=(PLAN, DISPATCH)),
    "dispatch_broadcast": Access(WORKER_TABLES, sends=(DISPATCH,), secrets="read", wecom=True),
    # Due timers (runtime) start broadcasts (data), wake their results follower, and create and follow moment tasks
    # at WeCom.
    "broadcast_schedule": Access(WORKER_TABLES, sends=(PLAN, DISPATCH), secrets="read", wecom=True),
    # Beacon batches folded into views and counters; viewers auto-tagged at WeCom; alerts queued.
    "ingest_beacons": Access(WORKER_TABLES, sends=(ALERTS,), secrets="read", wecom=True),
    # Sharers alerted by app message within WeCom's budgets; digests queued for later.
    "alert_sharers": Access(WORKER_TABLES, sends=(ALERTS,), secrets="read", wecom=True),
    "on_sync": Access(WORKER_TABLES, sends=(SYNC, EV), secrets="read", wecom=True),
    # The nightly trigger only queues the fan-out message (on_sync pages through the tenants).
    "nightly_sync": Access({}, sends=(SYNC,)),
}


class UndeclaredFunction(ValueError):
    """A function of the app has no entry in FUNCTIONS."""


def access_of(name: str) -> Access:
    """The declared access of function `name`; raises UndeclaredFunction naming it."""
    try:
        return FUNCTIONS[name]
    except KeyError:
        raise UndeclaredFunction(
            f"function {name!r} has no entry in infra/permissions.py FUNCTIONS: declare its tables, queues, "
            "secrets and whether it calls WeCom"
        ) from None


def _table_arns(table: resources.Table) -> list[Any]:
    arns: list[Any] = [{"Fn::GetAtt": [table_id(table), "Arn"]}]
    if table.indexes:
        arns.append({"Fn::Sub": f"${{{table_id(table)}.Arn}}/index/*"})
    return arns


def _queue_arn(logical: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [queue_id(resources.find_queue(logical)), "Arn"]}


def policy_statements(access: Access, drains: resources.Queue | None, secrets_prefix: str) -> list[dict[str, Any]]:
    """The statements of a function's data policy: one per table, one for the queues it sends to, one for the queue
    it drains, one for its secret parameters (SecureStrings under the account's aws/ssm key, whose key policy lets
    SSM decrypt for any principal allowed the parameter: no KMS statement needed)."""
    tables = {t.logical: t for t in resources.TABLES}
    statements: list[dict[str, Any]] = []
    for logical, mode in sorted(access.tables.items()):
        statements.append(
            {
                "Sid": f"Table{logical.title().replace('_', '')}{mode.title()}",
                "Effect": "Allow",
                "Action": list(DYNAMODB_WRITE if mode == "write" else DYNAMODB_READ),
                "Resource": _table_arns(tables[logical]),
            }
        )
    if access.sends:
        statements.append(
            {
                "Sid": "QueuesSend",
                "Effect": "Allow",
                "Action": list(SQS_SEND),
                "Resource": [_queue_arn(q) for q in sorted(access.sends)],
            }
        )
    if drains is not None:
        statements.append(
            {
                "Sid": "QueueConsume",
                "Effect": "Allow",
                "Action": list(SQS_CONSUME),
                "Resource": [_queue_arn(drains.logical)],
            }
        )
    if access.secrets:
        statements.append(
            {
                "Sid": f"Secrets{access.secrets.title()}",
                "Effect": "Allow",
                "Action": list(SSM_WRITE if access.secrets == "write" else SSM_READ),
                "Resource": [
                    {
                        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
                        + secrets_prefix.rstrip("/")
                        + "/*"
                    }
                ],
            }
        )
    return statements


def role_resource(name: str, access: Access, statements: list[dict[str, Any]]) -> dict[str, Any]:
    """The function's own role: Lambda's basic execution (logs), or its VPC execution policy (logs and network
    interfaces) for a function in the VPC, and the data policy."""
    managed = "AWSLambdaVPCAccessExecutionRole" if access.wecom else "AWSLambdaBasicExecutionRole"
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": f"qiwei-reach function {name}: least privilege (infra/permissions.py)",
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            },
            "ManagedPolicyArns": [{"Fn::Sub": f"arn:${{AWS::Partition}}:iam::aws:policy/service-role/{managed}"}],
            "Policies": [
                {"PolicyName": "data-access", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}
            ],
        },
    }
