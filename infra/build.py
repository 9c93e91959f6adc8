"""The per-region stack, synthesized from `chalicelib.resources`, the Chalice app and the region's entry in
`infra/regions.json`.

Chalice packages the functions, the API and the event source mappings, but creates no tables or queues, and cannot
ask Lambda to honour partial batch failures. This module writes the CloudFormation template that
`chalice package --merge-template` deep-merges into Chalice's SAM template:

- every declared table (keys, GSIs, TTL, on demand, point-in-time recovery, kept on stack deletion);
- every declared queue and its dead-letter queue with the redrive policy;
- for every `@app.on_sqs_message` handler: `FunctionResponseTypes: [ReportBatchItemFailures]` and the region's
  `ScalingConfig.MaximumConcurrency` on its event, and a DependsOn on its queue, so that CloudFormation creates the
  queue before the mapping (Chalice refers to the queue by name only);
- for every function: its own least-privilege role (`infra.permissions`), the region's `PUBLIC_BASE_URL` and
  `EGRESS_IPS`, and, for the functions that call WeCom, the VPC behind the NAT's fixed IPs (`infra.network`);
- the alerts topic, the alarms and the region's dashboard (`infra.monitoring`).

Chalice's own role is not generated: `.chalice/config.json` sets `manage_iam_role: false`, and each function's
`Role` is replaced here by its own.

`synthesize()` builds the same SAM template offline, with Chalice's own generator and merger, pointing CodeUri at
`./deployment.zip` instead of building the zip (which downloads Lambda wheels); tests, cfn-lint and `make synth` use
it (`python -m infra.synth`).

    python -m infra.build --region ap-east-1 [--out build/regions/ap-east-1] [--sam]
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
from infra import network
from infra.monitoring import alert_resources, dashboard
from infra.names import ALERTS_TOPIC, API_HANDLER, dlq_id, function_id, queue_id, role_id, table_id
from infra.permissions import access_of, policy_statements, role_resource
from infra.regions import Region, find_region
from local.api_server import PROJECT_DIR, chalice_config

DLQ_RETENTION_SECONDS = 14 * 24 * 3600
PROVISIONED_ALIAS = "live"


class InfraError(ValueError):
    """The app and the resource declaration disagree; deploying would fail or misbehave."""


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


def app_functions(app: Chalice) -> list[str]:
    """The name of every Lambda function Chalice makes of the app: the route handler, authorizers, event handlers."""
    names = [API_HANDLER] if app.routes else []
    names += [authorizer.name for authorizer in app.builtin_auth_handlers]
    names += [source.name for source in app.event_sources]
    names += [function.name for function in app.pure_lambda_functions]
    return names


def handler_overrides(app: Chalice, settings: Settings, config: Config, region: Region) -> dict[str, dict[str, Any]]:
    """What the merge adds to each SQS handler's function: batch item failures, concurrency (the region's maximum,
    and provisioned where the queue asks for warm environments), queue dependency."""
    out: dict[str, dict[str, Any]] = {}
    for handler, queue in sqs_handlers(app, settings):
        timeout = config.scope(region.stage, handler.name).lambda_timeout
        if timeout and queue.visibility_timeout < timeout:
            raise InfraError(
                f"queue {queue.logical}: visibility timeout {queue.visibility_timeout}s is below the timeout "
                f"{timeout}s of {handler.name}; Lambda refuses such a mapping"
            )
        event: dict[str, Any] = {"FunctionResponseTypes": ["ReportBatchItemFailures"]}
        cap = region.queue_concurrency(queue)
        if cap:
            event["ScalingConfig"] = {"MaximumConcurrency": cap}
        properties: dict[str, Any] = {
            "Events": {to_cfn_resource_name(f"{handler.name}-sqs-event-source"): {"Properties": event}}
        }
        if queue.provisioned_concurrency:
            # SAM points the event source at the alias, whose versions keep this many environments initialised.
            properties["AutoPublishAlias"] = PROVISIONED_ALIAS
            properties["ProvisionedConcurrencyConfig"] = {
                "ProvisionedConcurrentExecutions": min(
                    queue.provisioned_concurrency, cap or queue.provisioned_concurrency
                )
            }
        out[function_id(handler.name)] = {"DependsOn": [queue_id(queue)], "Properties": properties}
    return out


def function_overrides(app: Chalice, settings: Settings, region: Region) -> dict[str, dict[str, Any]]:
    """Each function's own role (and the role resource), the region's environment, and the VPC for WeCom callers."""
    drained = {handler.name: queue for handler, queue in sqs_handlers(app, settings)}
    environment = {"PUBLIC_BASE_URL": region.public_base_url, "EGRESS_IPS": network.egress_ips(region)}
    out: dict[str, dict[str, Any]] = {}
    for name in app_functions(app):
        access = access_of(name)
        statements = policy_statements(access, drained.get(name), settings.secrets_prefix)
        out[role_id(name)] = role_resource(name, access, statements)
        properties: dict[str, Any] = {
            "Role": {"Fn::GetAtt": [role_id(name), "Arn"]},
            "Environment": {"Variables": environment},
        }
        if access.wecom:
            properties["VpcConfig"] = network.vpc_config(region)
        out[function_id(name)] = {"Properties": properties}
    return out


def stage_settings(config: Config) -> Settings:
    """The settings the stage's functions will see (config.json's environment for that stage)."""
    return get_settings(dict(config.environment_variables))


def merge_template(app: Chalice, region: Region, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The CloudFormation template to merge into Chalice's SAM template for `region`'s stack."""
    config = chalice_config(app, region.stage, project_dir)
    settings = stage_settings(config)
    template: dict[str, Any] = {"Resources": {}}
    out = template["Resources"]
    for table in resources.TABLES:
        out[table_id(table)] = table_resource(table, settings.table(table))
    for queue in resources.QUEUES:
        out.update(queue_resources(queue, settings.queue(queue)))
    out.update(network.network_resources(region))
    merger = TemplateDeepMerger()
    out.update(
        merger.merge(handler_overrides(app, settings, config, region), function_overrides(app, settings, region))
    )
    functions = app_functions(app)
    out.update(alert_resources(region, settings.queues, functions))
    out["Dashboard"] = dashboard(region, settings.queues, functions)
    template["Outputs"] = (
        {f"{table_id(t)}Name": {"Value": {"Ref": table_id(t)}} for t in resources.TABLES}
        | {f"{queue_id(q)}Url": {"Value": {"Ref": queue_id(q)}} for q in resources.QUEUES}
        | {f"{ALERTS_TOPIC}Arn": {"Value": {"Ref": ALERTS_TOPIC}}}
        | network.network_outputs(region)
    )
    return template


class _CodeLocationOnly(BaseDeployStep):
    """Stands in for the packaging step: names the zip `chalice package` would write instead of building it."""

    def handle_deploymentpackage(self, config: Config, resource: DeploymentPackage) -> None:
        resource.filename = "./deployment.zip"


def synthesize(app: Chalice, region: Region, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The merged SAM template `chalice package --merge-template` would write for `region`, built offline.

    Same application graph, same SAM generator and same deep merge as `chalice package`; only the code zip is
    not built (it needs the Lambda wheels from the package index).
    """
    config = chalice_config(app, region.stage, project_dir)
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
    session.set_config_variable("region", region.region)
    generator = SAMTemplateGenerator(config, PackageOptions(TypedAWSClient(session)))
    chalice_template = generator.generate(graph.construct_resources(config, region.stage))
    return TemplateDeepMerger().merge(merge_template(app, region, project_dir), chalice_template)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write one region's merge template (and, offline, the SAM one).")
    parser.add_argument("--region", required=True, help="a region listed in infra/regions.json")
    parser.add_argument("--out", type=Path, help="output folder (default build/regions/<region>)")
    parser.add_argument("--sam", action="store_true", help="also write the merged SAM template, built offline")
    args = parser.parse_args(argv)
    from app import app

    region = find_region(args.region)
    out = args.out or PROJECT_DIR / "build" / "regions" / region.region
    out.mkdir(parents=True, exist_ok=True)
    (out / "merge.json").write_text(json.dumps(merge_template(app, region), indent=2) + "\n")
    print(out / "merge.json")
    if args.sam:
        (out / "sam.json").write_text(json.dumps(synthesize(app, region), indent=2) + "\n")
        print(out / "sam.json")


if __name__ == "__main__":
    main()
