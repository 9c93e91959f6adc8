"""infra/ and local provisioning hold together: both come from chalicelib.resources, and every SQS handler gets a
declared queue and partial batch failure in the synthesized stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.api import lint
from chalice import Chalice, Rate
from chalice.app import SQSEventConfig

from app import app as project_app
from chalicelib import resources
from chalicelib.observability import ALERT_METRICS, BATCH_FAILED_METRIC, alert
from infra.build import InfraError, merge_template, synthesize
from infra.names import ALERTS_TOPIC, dlq_id, queue_id, table_id
from infra.regions import load_regions

REGION = load_regions()[0]


def sample_app() -> Chalice:
    """An app shaped like the product: a route, SQS handlers on declared queues, a schedule."""
    app = Chalice(app_name="qiwei-reach")

    @app.route("/health")
    def health():
        return {"status": "ok"}

    @app.on_sqs_message(queue=resources.EVENTS.name, batch_size=10, maximum_batching_window_in_seconds=1)
    def on_wecom_event(event):
        return {"batchItemFailures": []}

    @app.on_sqs_message(queue=resources.DISPATCH.name, batch_size=5)
    def dispatch_broadcast(event):
        return {"batchItemFailures": []}

    @app.schedule(Rate(1, unit=Rate.MINUTES))
    def broadcast_schedule(event):
        return None

    return app


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return synthesize(sample_app(), REGION)


def sqs_events(template: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Function logical id → (event logical id, event properties) for every SQS event in a SAM template."""
    out = {}
    for name, resource in template["Resources"].items():
        for event_name, event in resource.get("Properties", {}).get("Events", {}).items():
            if event["Type"] == "SQS":
                out[name] = (event_name, event["Properties"])
    return out


def test_synthesized_tables_and_queues_equal_what_local_provisioning_creates(aws, template):
    dynamodb = boto3.client("dynamodb")
    for table in resources.TABLES:
        declared = template["Resources"][table_id(table)]["Properties"]
        created = dynamodb.describe_table(TableName=aws.table(table))["Table"]
        assert declared["TableName"] == created["TableName"]
        assert declared["BillingMode"] == created["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert declared["KeySchema"] == created["KeySchema"]
        assert sorted(declared["AttributeDefinitions"], key=str) == sorted(created["AttributeDefinitions"], key=str)
        assert [
            (i["IndexName"], i["KeySchema"], i["Projection"]) for i in declared.get("GlobalSecondaryIndexes", [])
        ] == [(i["IndexName"], i["KeySchema"], i["Projection"]) for i in created.get("GlobalSecondaryIndexes", [])]
        ttl = dynamodb.describe_time_to_live(TableName=aws.table(table))["TimeToLiveDescription"]
        assert declared.get("TimeToLiveSpecification", {}).get("AttributeName") == ttl.get("AttributeName")
        assert declared["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}

    sqs = boto3.client("sqs")
    for queue in resources.QUEUES:
        declared = template["Resources"][queue_id(queue)]["Properties"]
        url = sqs.get_queue_url(QueueName=aws.queue(queue))["QueueUrl"]
        created = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert declared["QueueName"] == aws.queue(queue)
        assert str(declared["VisibilityTimeout"]) == created["VisibilityTimeout"]
        assert str(declared["MessageRetentionPeriod"]) == created["MessageRetentionPeriod"]
        redrive = json.loads(created["RedrivePolicy"])
        assert str(declared["RedrivePolicy"]["maxReceiveCount"]) == str(redrive["maxReceiveCount"])
        dlq_id = declared["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        dlq_name = template["Resources"][dlq_id]["Properties"]["QueueName"]
        assert redrive["deadLetterTargetArn"].endswith(f":{dlq_name}")


def test_every_sqs_handler_drains_a_declared_queue_and_reports_batch_item_failures(template):
    events = sqs_events(template)
    assert set(events) == {"OnWecomEvent", "DispatchBroadcast"}
    for function, queue in (("OnWecomEvent", resources.EVENTS), ("DispatchBroadcast", resources.DISPATCH)):
        _, properties = events[function]
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert properties["ScalingConfig"] == {"MaximumConcurrency": REGION.queue_concurrency(queue)}
        assert properties["Queue"]["Fn::Sub"].endswith(f":{queue.name}")
        assert template["Resources"][function]["DependsOn"] == [queue_id(queue)]
    assert events["OnWecomEvent"][1]["BatchSize"] == 10
    assert events["OnWecomEvent"][1]["MaximumBatchingWindowInSeconds"] == 1


def test_the_project_app_synthesizes_with_every_sqs_handler_complete():
    app_template = synthesize(project_app, REGION)
    handlers = [c for c in project_app.event_sources if isinstance(c, SQSEventConfig)]
    events = sqs_events(app_template)
    assert len(events) == len(handlers)
    declared_names = {q.name for q in resources.QUEUES}
    for _, properties in events.values():
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert properties["Queue"]["Fn::Sub"].rsplit(":", 1)[-1] in declared_names
    assert "DefaultRole" not in app_template["Resources"]


def test_the_new_friend_function_keeps_every_environment_warm_and_the_bulk_functions_none():
    app_template = synthesize(project_app, REGION)
    functions = app_template["Resources"]
    new_friend = functions["OnWecomNewFriend"]["Properties"]
    assert new_friend["AutoPublishAlias"] == "live"
    assert new_friend["ProvisionedConcurrencyConfig"] == {
        "ProvisionedConcurrentExecutions": resources.EVENTS_REALTIME.max_concurrency
    }
    for bulk in ("OnWecomEvent", "OnSync", "PlanBroadcast", "DispatchBroadcast"):
        assert "ProvisionedConcurrencyConfig" not in functions[bulk]["Properties"]


def test_every_dead_letter_queue_raises_an_alarm_to_the_alerts_topic(template):
    resources_ = template["Resources"]
    assert resources_[ALERTS_TOPIC]["Type"] == "AWS::SNS::Topic"
    for queue in resources.QUEUES:
        properties = resources_[dlq_id(queue) + "Alarm"]["Properties"]
        assert (properties["Namespace"], properties["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
        assert properties["Dimensions"] == [
            {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id(queue), "QueueName"]}}
        ]
        assert (properties["ComparisonOperator"], properties["Threshold"]) == ("GreaterThanThreshold", 0)
        assert properties["AlarmActions"] == [{"Ref": ALERTS_TOPIC}]


def test_each_alert_metric_has_an_alarm_on_what_the_app_emits(template, capsys, monkeypatch):
    """The alarm watches the namespace, metric and dimensions of the EMF line `alert` writes, or it never fires."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    assert BATCH_FAILED_METRIC in ALERT_METRICS
    for metric in ALERT_METRICS:
        capsys.readouterr()
        alert("something failed", metric, batch_id="b1")
        emf = next(json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line)
        (directive,) = emf["_aws"]["CloudWatchMetrics"]
        (dimension_set,) = directive["Dimensions"]
        properties = template["Resources"][f"{metric}Alarm"]["Properties"]
        assert properties["Namespace"] == directive["Namespace"]
        assert properties["MetricName"] == metric == directive["Metrics"][0]["Name"]
        assert properties["Dimensions"] == [{"Name": d, "Value": emf[d]} for d in dimension_set]
        assert emf[metric] == [1.0]
        assert properties["AlarmActions"] == [{"Ref": ALERTS_TOPIC}]


def test_an_alert_on_a_metric_without_an_alarm_is_refused():
    with pytest.raises(ValueError, match="no alarm"):
        alert("something failed", "NobodyWatchesThis")


def test_cfn_lint_accepts_the_stack(template):
    matches = lint(json.dumps(template), regions=[REGION.region])
    assert [str(m) for m in matches] == []


def test_a_handler_on_an_undeclared_queue_is_refused():
    app = Chalice(app_name="qiwei-reach")

    @app.on_sqs_message(queue="somewhere-else")
    def on_wecom_event(event):
        return None

    with pytest.raises(InfraError, match="somewhere-else"):
        merge_template(app, REGION)


def test_a_queue_whose_visibility_is_below_the_function_timeout_is_refused(tmp_path: Path):
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text(
        json.dumps({"version": "2.0", "app_name": "qiwei-reach", "lambda_timeout": 300, "stages": {"prod": {}}})
    )
    app = Chalice(app_name="qiwei-reach")

    @app.on_sqs_message(queue=resources.DISPATCH.name)
    def dispatch(event):
        return None

    with pytest.raises(InfraError, match="visibility timeout"):
        merge_template(app, REGION, tmp_path)
