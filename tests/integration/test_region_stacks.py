"""The proof of the per-region stacks: every region of infra/regions.json synthesized (offline, the template
`chalice package` writes) from chalicelib.resources and the app, with its tables, queues, wiring, network,
per-function roles, alarms and dashboard, and cfn-lint clean."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from chalice import Chalice
from chalice.app import ScheduledEventConfig, SQSEventConfig

from app import app as project_app
from chalicelib import resources
from infra.build import app_functions, synthesize
from infra.monitoring import BEACONS_METRIC, age_bound
from infra.names import ALERTS_TOPIC, dlq_id, function_id, queue_id, role_id, table_id
from infra.permissions import DYNAMODB_READ, DYNAMODB_WRITE, FUNCTIONS, SQS_CONSUME, SQS_SEND, UndeclaredFunction
from infra.regions import load_regions
from infra.synth import lint_findings

REGIONS = load_regions()


@pytest.fixture(scope="module")
def stacks() -> dict[str, dict[str, Any]]:
    """Each listed region's merged SAM template, synthesized once for the module."""
    started = time.perf_counter()
    out = {region.region: synthesize(project_app, region) for region in REGIONS}
    print(f"synthesized {len(out)} regions in {time.perf_counter() - started:.1f} s")
    return out


def test_at_least_two_regions_are_listed_and_each_names_its_own_zones():
    assert len(REGIONS) >= 2
    for region in REGIONS:
        assert all(az.startswith(region.region) for az in region.nat_azs)


@pytest.mark.parametrize("region", REGIONS, ids=lambda r: r.region)
def test_every_declared_table_and_queue_has_its_keys_indexes_and_redrive(stacks, region):
    template = stacks[region.region]["Resources"]
    for table in resources.TABLES:
        properties = template[table_id(table)]["Properties"]
        expected_keys = [{"AttributeName": table.hash_key, "KeyType": "HASH"}]
        expected_keys += [{"AttributeName": table.range_key, "KeyType": "RANGE"}] if table.range_key else []
        assert properties["TableName"] == table.name
        assert properties["KeySchema"] == expected_keys
        indexes = {i["IndexName"]: i["KeySchema"] for i in properties.get("GlobalSecondaryIndexes", [])}
        assert indexes == {
            i.name: [
                {"AttributeName": i.hash_key, "KeyType": "HASH"},
                {"AttributeName": i.range_key, "KeyType": "RANGE"},
            ]
            for i in table.indexes
        }
        assert properties.get("TimeToLiveSpecification", {}).get("AttributeName") == table.ttl_attribute
        assert template[table_id(table)]["DeletionPolicy"] == "Retain"
    for queue in resources.QUEUES:
        properties = template[queue_id(queue)]["Properties"]
        assert properties["QueueName"] == queue.name
        assert properties["VisibilityTimeout"] == queue.visibility_timeout
        assert properties["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id(queue), "Arn"]},
            "maxReceiveCount": queue.max_receive_count,
        }
        assert template[dlq_id(queue)]["Properties"]["QueueName"] == queue.dlq_name


@pytest.mark.parametrize("region", REGIONS, ids=lambda r: r.region)
def test_every_handler_is_wired_to_its_source_with_batch_window_concurrency_and_partial_failures(stacks, region):
    template = stacks[region.region]["Resources"]
    by_name = {q.name: q for q in resources.QUEUES}
    sources = project_app.event_sources
    assert any(isinstance(s, SQSEventConfig) for s in sources)
    for source in sources:
        function = template[function_id(source.name)]
        (event,) = function["Properties"]["Events"].values()
        if isinstance(source, SQSEventConfig):
            queue = by_name[source.queue]
            properties = event["Properties"]
            assert event["Type"] == "SQS"
            assert properties["Queue"]["Fn::Sub"].endswith(f":{queue.name}")
            assert properties["BatchSize"] == queue.batch_size
            assert properties["MaximumBatchingWindowInSeconds"] == queue.batching_window
            assert properties["ScalingConfig"] == {"MaximumConcurrency": region.queue_concurrency(queue)}
            assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
            assert function["DependsOn"] == [queue_id(queue)]
        else:
            assert isinstance(source, ScheduledEventConfig)
            assert event["Type"] == "Schedule"
    for logical, cap in region.max_concurrency.items():
        assert any(
            e["Properties"].get("ScalingConfig") == {"MaximumConcurrency": cap}
            for r in template.values()
            for e in r.get("Properties", {}).get("Events", {}).values()
            if e["Type"] == "SQS" and e["Properties"]["Queue"]["Fn::Sub"].endswith(resources.find_queue(logical).name)
        )


@pytest.mark.parametrize("region", REGIONS, ids=lambda r: r.region)
def test_wecom_callers_run_in_the_vpc_behind_a_nat_and_elastic_ip_per_zone_and_the_ips_are_outputs(stacks, region):
    stack = stacks[region.region]
    template = stack["Resources"]
    nats = {k: v for k, v in template.items() if v["Type"] == "AWS::EC2::NatGateway"}
    eips = {k: v for k, v in template.items() if v["Type"] == "AWS::EC2::EIP"}
    assert len(nats) == len(eips) == len(region.nat_azs)
    zones_of_nats = {
        template[n["Properties"]["SubnetId"]["Ref"]]["Properties"]["AvailabilityZone"] for n in nats.values()
    }
    assert zones_of_nats == set(region.nat_azs)
    for index in range(len(region.nat_azs)):
        private = template[f"PrivateSubnet{index + 1}"]["Properties"]
        route = template[f"PrivateRouteTable{index + 1}Default"]["Properties"]
        assert route["DestinationCidrBlock"] == "0.0.0.0/0"
        nat = template[route["NatGatewayId"]["Ref"]]
        assert (
            template[nat["Properties"]["SubnetId"]["Ref"]]["Properties"]["AvailabilityZone"]
            == private["AvailabilityZone"]
        )
        assert stack["Outputs"][f"EgressIp{index + 1}"]["Value"] == {"Ref": f"EgressIp{index + 1}"}
    egress = {"Fn::Join": [",", [{"Ref": e} for e in sorted(eips)]]}
    assert stack["Outputs"]["EgressIps"]["Value"] == egress
    endpoints = {
        v["Properties"]["ServiceName"]["Fn::Sub"]: v["Properties"]
        for v in template.values()
        if v["Type"] == "AWS::EC2::VPCEndpoint"
    }
    assert endpoints["com.amazonaws.${AWS::Region}.dynamodb"]["VpcEndpointType"] == "Gateway"
    assert endpoints["com.amazonaws.${AWS::Region}.sqs"]["VpcEndpointType"] == "Interface"
    assert endpoints["com.amazonaws.${AWS::Region}.sqs"]["PrivateDnsEnabled"] is True
    for name in app_functions(project_app):
        properties = template[function_id(name)]["Properties"]
        assert ("VpcConfig" in properties) is FUNCTIONS[name].wecom, name
        if FUNCTIONS[name].wecom:
            assert len(properties["VpcConfig"]["SubnetIds"]) == len(region.nat_azs)
        variables = properties["Environment"]["Variables"]
        assert variables["PUBLIC_BASE_URL"] == f"https://{region.domain}"
        assert variables["EGRESS_IPS"] == egress
    assert {"wecom", "no wecom"} <= {"wecom" if FUNCTIONS[n].wecom else "no wecom" for n in app_functions(project_app)}


def _granted(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(action, resource logical id or ARN text) for every grant of a role's data policy."""
    out = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            assert "*" not in action, f"wildcard action {action}"
            for resource in statement["Resource"]:
                if "Fn::GetAtt" in resource:
                    out.add((action, resource["Fn::GetAtt"][0]))
                else:
                    out.add((action, resource["Fn::Sub"]))
    return out


def _expected(name: str, drains: resources.Queue | None, region_stack: dict[str, Any]) -> set[tuple[str, str]]:
    access = FUNCTIONS[name]
    tables = {t.logical: t for t in resources.TABLES}
    out = set()
    for logical, mode in access.tables.items():
        table = tables[logical]
        actions = DYNAMODB_WRITE if mode == "write" else DYNAMODB_READ
        out |= {(a, table_id(table)) for a in actions}
        if table.indexes:
            out |= {(a, f"${{{table_id(table)}.Arn}}/index/*") for a in actions}
    out |= {(a, queue_id(resources.find_queue(q))) for q in access.sends for a in SQS_SEND}
    if drains:
        out |= {(a, queue_id(drains)) for a in SQS_CONSUME}
    if access.secrets:
        parameters = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/qiwei-reach/prod/*"
        actions = ["ssm:GetParameter", "ssm:GetParameters"]
        actions += ["ssm:PutParameter"] if access.secrets == "write" else []
        out |= {(a, parameters) for a in actions}
    return out


@pytest.mark.parametrize("region", REGIONS, ids=lambda r: r.region)
def test_each_function_has_its_own_role_holding_exactly_its_declared_grants(stacks, region):
    template = stacks[region.region]["Resources"]
    functions = {k for k, v in template.items() if v["Type"] == "AWS::Serverless::Function"}
    names = app_functions(project_app)
    assert functions == {function_id(n) for n in names}
    drains = {
        s.name: next(q for q in resources.QUEUES if q.name == s.queue)
        for s in project_app.event_sources
        if isinstance(s, SQSEventConfig)
    }
    roles = [v for v in template.values() if v["Type"] == "AWS::IAM::Role"]
    assert len(roles) == len(names), "one role per function, no shared role"
    for name in names:
        assert template[function_id(name)]["Properties"]["Role"] == {"Fn::GetAtt": [role_id(name), "Arn"]}
        role = template[role_id(name)]["Properties"]
        (policy,) = role["Policies"]
        assert _granted(policy["PolicyDocument"]["Statement"]) == _expected(name, drains.get(name), template), name
        (managed,) = role["ManagedPolicyArns"]
        expected = "AWSLambdaVPCAccessExecutionRole" if FUNCTIONS[name].wecom else "AWSLambdaBasicExecutionRole"
        assert managed["Fn::Sub"].endswith(f"/{expected}")


def test_a_function_without_a_declaration_is_refused_by_name():
    app = Chalice(app_name="qiwei-reach")

    @app.on_sqs_message(queue=resources.EVENTS.name)
    def tally_new_things(event):
        return None

    with pytest.raises(UndeclaredFunction, match=r"'tally_new_things' has no entry in infra/permissions\.py"):
        synthesize(app, REGIONS[0])


@pytest.mark.parametrize("region", REGIONS, ids=lambda r: r.region)
def test_alarms_reach_the_regions_alert_address_and_the_dashboard_shows_every_figure(stacks, region):
    template = stacks[region.region]["Resources"]
    assert template[ALERTS_TOPIC]["Properties"]["Subscription"] == [
        {"Protocol": "email", "Endpoint": region.alert_email}
    ]
    alarms = {k: v["Properties"] for k, v in template.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": ALERTS_TOPIC}]
    for queue in resources.QUEUES:
        assert alarms[dlq_id(queue) + "Alarm"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
        age = alarms[queue_id(queue) + "AgeAlarm"]
        assert (age["MetricName"], age["Threshold"]) == ("ApproximateAgeOfOldestMessage", age_bound(queue))
    for name in app_functions(project_app):
        for metric in ("Errors", "Throttles"):
            alarm = alarms[f"{function_id(name)}{metric}Alarm"]
            assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", metric)
            assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id(name)}}]
    assert "AVG(WeComErrors)" in alarms["WeComErrorRateAlarm"]["Metrics"][0]["Expression"]
    assert "errcode = '45009'" in alarms["WeCom45009Alarm"]["Metrics"][0]["Expression"]
    body = template["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body)["widgets"]
    for widget in widgets:
        if widget["type"] == "metric":
            assert all(isinstance(row, list) and row for row in widget["properties"]["metrics"]), widget
        else:
            assert widget["properties"]["query"].startswith("SOURCE '/aws/lambda/${")
    titles = " | ".join(w["properties"]["title"] for w in widgets)
    for figure in (
        "Queue depth",
        "Age of oldest",
        "errors and throttles",
        "WeCom calls",
        "45009",
        "Callbacks",
        "Welcome delay",
        "Mass messages",
        "Beacons",
    ):
        assert figure in titles
    for queue in resources.QUEUES:
        assert f'"{queue.name}"' in body
        assert f'"{queue.dlq_name}"' in body
    assert BEACONS_METRIC in body


@pytest.mark.parametrize("region", REGIONS, ids=lambda r: r.region)
def test_cfn_lint_finds_nothing_in_the_regions_stack(stacks, region):
    assert lint_findings(stacks[region.region], region) == []
