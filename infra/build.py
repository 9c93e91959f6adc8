"""The per-region stack, synthesized from `chalicelib.resources` and the Chalice app.

Chalice packages the functions, the API and the event source mappings, but creates no tables or queues, and cannot
ask Lambda to honour partial batch failures. This module writes the CloudFormation template that
`chalice package --merge-template` deep-merges into Chalice's SAM template:

- every declared table (keys, GSIs, TTL, on demand, point-in-time recovery, kept on stack deletion);
- every declared queue and its dead-letter queue with the redrive policy;
- for every `@app.on_sqs_message` handler: `FunctionResponseTypes: [ReportBatchItemFailures]` and the declared
  `ScalingConfig.MaximumConcurrency` on its event, and a DependsOn on its queue, so that CloudFormation creates the
  queue before the mapping (Chalice refers to the queue by name only);
- a policy on Chalice's role for the tables, queues and the stage's secret parameters (PynamoDB calls are invisible
  to Chalice's policy generator);
- an SNS topic for operators' alerts, with CloudWatch alarms on it: a message in any dead-letter queue, and every
  metric the app counts through `observability.alert` (a mass-message batch that ended failed, say).

`synthesize()` builds the same SAM template offline, with Chalice's own generator and merger, pointing CodeUri at
`./deployment.zip` instead of building the zip (which downloads Lambda wheels); tests and cfn-lint use it.

    python -m infra.build --stage prod [--out infra/out/prod] [--sam]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import botocore.session
from chalice.app import Chalice, SQSEventConfig
from chalice.awsclient import TypedAWSClient
from chalice.config import Config
from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder
from chalice.deploy.deployer import (
    BaseDeployStep,
    BuildStage,
    InjectDefaults,
    LambdaEventSourcePolicyInjector,
    PolicyGenerator,
    SwaggerBuilder,
    WebsocketPolicyInjector,
)
from chalice.deploy.models import DeploymentPackage
from chalice.deploy.swagger import CFNSwaggerGenerator
from chalice.package import PackageOptions, ResourceBuilder, SAMTemplateGenerator, TemplateDeepMerger
from chalice.policy import AppPolicyGenerator
from chalice.utils import OSUtils, to_cfn_resource_name

from chalicelib import resources
from chalicelib.config import Settings, get_settings
from chalicelib.observability import ALERT_METRICS, METRICS_NAMESPACE, SERVICE
from local.api_server import PROJECT_DIR, chalice_config

DLQ_RETENTION_SECONDS = 14 * 24 * 3600
ALERTS_TOPIC = "AlertsTopic"
ALERT_PERIOD_SECONDS = 60
PROVISIONED_ALIAS = "live"
# Chalice's one role for all functions (config.json keeps manage_iam_role and a shared role).
CHALICE_ROLE = "DefaultRole"


class InfraError(ValueError):
    """The app and the resource declaration disagree; deploying would fail or misbehave."""


def table_id(table: resources.Table) -> str:
    return to_cfn_resource_name(table.logical) + "Table"


def queue_id(queue: resources.Queue) -> str:
    return to_cfn_resource_name(queue.logical) + "Queue"


def dlq_id(queue: resources.Queue) -> str:
    return to_cfn_resource_name(queue.logical) + "DeadLetterQueue"


def _key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def table_resource(table: resources.Table, name: str) -> dict[str, Any]:
    """AWS::DynamoDB::Table for a declared table."""
    key_names = [table.hash_key, table.range_key] + [k for i in table.indexes for k in (i.hash_key, i.range_key)]
    properties: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in sorted(set(key_names) - {None})],
        "KeySchema": _key_schema(table.hash_key, table.range_key),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    }
    if table.indexes:
        properties["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": _key_schema(index.hash_key, index.range_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in table.indexes
        ]
    if table.ttl_attribute:
        properties["TimeToLiveSpecification"] = {"AttributeName": table.ttl_attribute, "Enabled": True}
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }


def queue_resources(queue: resources.Queue, name: str) -> dict[str, dict[str, Any]]:
    """AWS::SQS::Queue for a declared queue and its dead-letter queue, with the redrive policy."""
    return {
        dlq_id(queue): {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": f"{name}-dlq", "MessageRetentionPeriod": DLQ_RETENTION_SECONDS},
        },
        queue_id(queue): {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": name,
                "VisibilityTimeout": queue.visibility_timeout,
                "MessageRetentionPeriod": queue.retention_seconds,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id(queue), "Arn"]},
                    "maxReceiveCount": queue.max_receive_count,
                },
            },
        },
    }


def alarm(description: str, namespace: str, metric: str, dimensions: dict[str, Any], statistic: str) -> dict[str, Any]:
    """An alarm that tells the alerts topic as soon as one minute of `metric` is above zero."""
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            "Statistic": statistic,
            "Period": ALERT_PERIOD_SECONDS,
            "EvaluationPeriods": 1,
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": ALERTS_TOPIC}],
        },
    }


def alert_resources(settings: Settings) -> dict[str, dict[str, Any]]:
    """The operators' topic, an alarm per dead-letter queue and one per alert metric of the app."""
    out: dict[str, dict[str, Any]] = {ALERTS_TOPIC: {"Type": "AWS::SNS::Topic", "Properties": {}}}
    for queue in resources.QUEUES:
        out[dlq_id(queue) + "Alarm"] = alarm(
            f"messages in {settings.queue(queue)}-dlq: a handler gave up on them (see its ERROR log lines)",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": {"Fn::GetAtt": [dlq_id(queue), "QueueName"]}},
            "Maximum",
        )
    for metric in ALERT_METRICS:
        out[f"{metric}Alarm"] = alarm(
            f"{metric} counted (see the ERROR log lines of service {SERVICE})",
            METRICS_NAMESPACE,
            metric,
            {"service": SERVICE},
            "Sum",
        )
    return out


def sqs_handlers(app: Chalice, settings: Settings) -> list[tuple[SQSEventConfig, resources.Queue]]:
    """Every SQS handler of the app with the declared queue it drains; raises if a queue is not declared."""
    by_name = {settings.queue(q): q for q in resources.QUEUES}
    out = []
    for config in app.event_sources:
        if not isinstance(config, SQSEventConfig):
            continue
        name = config.queue or (config.queue_arn or "").rsplit(":", 1)[-1]
        if name not in by_name:
            raise InfraError(f"handler {config.name} drains {name!r}, which chalicelib.resources does not declare")
        out.append((config, by_name[name]))
    return out


def handler_overrides(app: Chalice, settings: Settings, config: Config, stage: str) -> dict[str, dict[str, Any]]:
    """What the merge adds to each SQS handler's function: batch item failures, concurrency (maximum, and
    provisioned where the queue asks for warm environments), queue dependency."""
    out: dict[str, dict[str, Any]] = {}
    for handler, queue in sqs_handlers(app, settings):
        timeout = config.scope(stage, handler.name).lambda_timeout
        if timeout and queue.visibility_timeout < timeout:
            raise InfraError(
                f"queue {queue.logical}: visibility timeout {queue.visibility_timeout}s is below the timeout "
                f"{timeout}s of {handler.name}; Lambda refuses such a mapping"
            )
        event: dict[str, Any] = {"FunctionResponseTypes": ["ReportBatchItemFailures"]}
        if queue.max_concurrency:
            event["ScalingConfig"] = {"MaximumConcurrency": queue.max_concurrency}
        properties: dict[str, Any] = {
            "Events": {to_cfn_resource_name(f"{handler.name}-sqs-event-source"): {"Properties": event}}
        }
        if queue.provisioned_concurrency:
            # SAM points the event source at the alias, whose versions keep this many environments initialised.
            properties["AutoPublishAlias"] = PROVISIONED_ALIAS
            properties["ProvisionedConcurrencyConfig"] = {
                "ProvisionedConcurrentExecutions": queue.provisioned_concurrency
            }
        out[to_cfn_resource_name(handler.name)] = {"DependsOn": [queue_id(queue)], "Properties": properties}
    return out


def access_policy(settings: Settings) -> dict[str, Any]:
    """Read/write on the stack's tables and queues and the stage's secret parameters, for Chalice's role."""
    tables = [{"Fn::GetAtt": [table_id(t), "Arn"]} for t in resources.TABLES]
    indexes = [{"Fn::Sub": f"${{{table_id(t)}.Arn}}/index/*"} for t in resources.TABLES if t.indexes]
    queues = [{"Fn::GetAtt": [queue_id(q), "Arn"]} for q in resources.QUEUES]
    parameters = {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
        + settings.secrets_prefix.rstrip("/")
        + "/*"
    }
    return {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "qiwei-reach-data-access",
            "Roles": [{"Ref": CHALICE_ROLE}],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": [
                            "dynamodb:GetItem",
                            "dynamodb:PutItem",
                            "dynamodb:UpdateItem",
                            "dynamodb:DeleteItem",
                            "dynamodb:Query",
                            "dynamodb:BatchGetItem",
                            "dynamodb:BatchWriteItem",
                            "dynamodb:ConditionCheckItem",
                            "dynamodb:DescribeTable",
                        ],
                        "Resource": tables + indexes,
                    },
                    {
                        "Effect": "Allow",
                        "Action": [
                            "sqs:SendMessage",
                            "sqs:GetQueueUrl",
                            "sqs:GetQueueAttributes",
                            "sqs:ChangeMessageVisibility",
                        ],
                        "Resource": queues,
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["ssm:GetParameter", "ssm:GetParameters", "ssm:PutParameter", "ssm:DeleteParameter"],
                        "Resource": [parameters],
                    },
                ],
            },
        },
    }


def stage_settings(config: Config) -> Settings:
    """The settings the stage's functions will see (config.json's environment for that stage)."""
    return get_settings(dict(config.environment_variables))


def merge_template(app: Chalice, stage: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The CloudFormation template to merge into Chalice's SAM template for `stage`."""
    config = chalice_config(app, stage, project_dir)
    settings = stage_settings(config)
    template: dict[str, Any] = {"Resources": {}}
    out = template["Resources"]
    for table in resources.TABLES:
        out[table_id(table)] = table_resource(table, settings.table(table))
    for queue in resources.QUEUES:
        out.update(queue_resources(queue, settings.queue(queue)))
    out.update(handler_overrides(app, settings, config, stage))
    out["DataAccessPolicy"] = access_policy(settings)
    out.update(alert_resources(settings))
    template["Outputs"] = (
        {f"{table_id(t)}Name": {"Value": {"Ref": table_id(t)}} for t in resources.TABLES}
        | {f"{queue_id(q)}Url": {"Value": {"Ref": queue_id(q)}} for q in resources.QUEUES}
        | {f"{ALERTS_TOPIC}Arn": {"Value": {"Ref": ALERTS_TOPIC}}}
    )
    return template


class _CodeLocationOnly(BaseDeployStep):
    """Stands in for the packaging step: names the zip `chalice package` would write instead of building it."""

    def handle_deploymentpackage(self, config: Config, resource: DeploymentPackage) -> None:
        resource.filename = "./deployment.zip"


def synthesize(app: Chalice, stage: str, region: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The merged SAM template `chalice package --merge-template` would write, built offline.

    Same application graph, same SAM generator and same deep merge as `chalice package`; only the code zip is
    not built (it needs the Lambda wheels from the package index).
    """
    config = chalice_config(app, stage, project_dir)
    osutils = OSUtils()
    build_stage = BuildStage(
        steps=[
            InjectDefaults(),
            _CodeLocationOnly(),
            PolicyGenerator(policy_gen=AppPolicyGenerator(osutils=osutils), osutils=osutils),
            SwaggerBuilder(swagger_generator=CFNSwaggerGenerator()),
            LambdaEventSourcePolicyInjector(),
            WebsocketPolicyInjector(),
        ]
    )
    graph = ResourceBuilder(ApplicationGraphBuilder(), DependencyBuilder(), build_stage)
    session = botocore.session.get_session()
    session.set_config_variable("region", region)
    generator = SAMTemplateGenerator(config, PackageOptions(TypedAWSClient(session)))
    chalice_template = generator.generate(graph.construct_resources(config, stage))
    return TemplateDeepMerger().merge(merge_template(app, stage, project_dir), chalice_template)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the per-region merge template (and, offline, the SAM one).")
    parser.add_argument("--stage", required=True, help="Chalice stage in .chalice/config.json")
    parser.add_argument("--out", type=Path, help="output folder (default infra/out/<stage>)")
    parser.add_argument("--sam", action="store_true", help="also write the merged SAM template, built offline")
    parser.add_argument("--region", default="cn-north-1", help="region for --sam (service principals, partition)")
    args = parser.parse_args(argv)
    from app import app

    out = args.out or PROJECT_DIR / "infra" / "out" / args.stage
    out.mkdir(parents=True, exist_ok=True)
    (out / "merge.json").write_text(json.dumps(merge_template(app, args.stage), indent=2) + "\n")
    print(out / "merge.json")
    if args.sam:
        (out / "sam.json").write_text(json.dumps(synthesize(app, args.stage, args.region), indent=2) + "\n")
        print(out / "sam.json")


if __name__ == "__main__":
    main()
