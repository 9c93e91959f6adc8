"""What ops see and hear about a region: the alerts topic, the alarms on it, one dashboard.

Alarms (each description says what it means; README's Operations section says what to do):
- a message in any dead-letter queue: a handler gave up on it;
- the oldest message of a queue older than its bound: the queue's functions do not keep up, or are stuck;
- any error (an invocation that crashed or timed out) or throttle of any function;
- every alert metric the app counts through `observability.alert`;
- WeCom's error rate (the share of calls answered with a non-zero errcode, from the `WeComErrors` metric the client
  writes for every exchange) above `WECOM_ERROR_RATE`;
- WeCom's 45009 (API frequency limit) answers across the fleet above `FLEET_45009_PER_5_MIN`: the shared buckets
  should prevent them.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib import resources
from chalicelib.domain import welcome_budget
from chalicelib.observability import ALERT_METRICS, METRICS_NAMESPACE, SERVICE
from infra.names import ALERTS_TOPIC, dlq_id, function_id, queue_id
from infra.regions import Region

ALERT_PERIOD_SECONDS = 60
WINDOW_SECONDS = 300
WECOM_ERROR_RATE = 0.1
FLEET_45009_PER_5_MIN = 10
MIN_AGE_BOUND_SECONDS = 900
AGE_BOUND_SECONDS = {resources.EVENTS_REALTIME.logical: int(welcome_budget.WELCOME_CODE_TTL_SECONDS)}
"""A welcome must go out while WeCom's welcome code lives (20 s): an older message on the new-friend queue means
welcomes are being lost. Other queues: twice their visibility timeout, at least 15 min (dispatch books delayed turns
when a corp is at its limit)."""
WELCOME_FUNCTION = "on_wecom_new_friend"
DISPATCH_FUNCTION = "dispatch_broadcast"
"""The functions whose log lines the dashboard reads: "welcome" (age_s), "broadcast dispatched" and "broadcast done"."""
BEACONS_METRIC = "BeaconsAccepted"
"""The count of accepted share-link beacons (namespace METRICS_NAMESPACE, dimension service), written by the beacon
ingest being built alongside; the dashboard shows it as soon as it is emitted."""
# CloudWatch Metrics Insights queries over constants of this project (no outside input).
WECOM_ERRORS_QUERY = f'SELECT AVG(WeComErrors) FROM SCHEMA("{METRICS_NAMESPACE}", api, service)'  # noqa: S608
FLEET_45009_QUERY = f"SELECT SUM(WeComCalls) FROM SCHEMA(\"{METRICS_NAMESPACE}\", api, errcode) WHERE errcode = '45009'"  # noqa: S608


def age_bound(queue: resources.Queue) -> int:
    """Seconds past which the queue's oldest message raises its alarm."""
    return AGE_BOUND_SECONDS.get(queue.logical, max(MIN_AGE_BOUND_SECONDS, 2 * queue.visibility_timeout))


def alarm(
    description: str,
    namespace: str,
    metric: str,
    dimensions: dict[str, Any],
    statistic: str,
    *,
    threshold: float = 0,
    period: int = ALERT_PERIOD_SECONDS,
) -> dict[str, Any]:
    """An alarm that tells the alerts topic as soon as one period of `metric` is above `threshold`."""
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            "Statistic": statistic,
            "Period": period,
            "EvaluationPeriods": 1,
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": ALERTS_TOPIC}],
        },
    }


def query_alarm(description: str, query: str, threshold: float) -> dict[str, Any]:
    """An alarm on a CloudWatch Metrics Insights query over WINDOW_SECONDS (all series of a metric at once)."""
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Metrics": [{"Id": "q", "Expression": query, "Period": WINDOW_SECONDS, "ReturnData": True}],
            "EvaluationPeriods": 1,
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": ALERTS_TOPIC}],
        },
    }


def alert_resources(region: Region, queue_names: dict[str, str], functions: list[str]) -> dict[str, dict[str, Any]]:
    """The operators' topic (mailing the region's alert address) and every alarm of the module docstring."""
    topic: dict[str, Any] = {"Type": "AWS::SNS::Topic", "Properties": {}}
    if region.alert_email:
        topic["Properties"]["Subscription"] = [{"Protocol": "email", "Endpoint": region.alert_email}]
    out: dict[str, dict[str, Any]] = {ALERTS_TOPIC: topic}
    for queue in resources.QUEUES:
        name = queue_names[queue.logical]
        out[dlq_id(queue) + "Alarm"] = alarm(
            f"messages in {name}-dlq: a handler gave up on them (see its ERROR log lines)",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": {"Fn::GetAtt": [dlq_id(queue), "QueueName"]}},
            "Maximum",
        )
        out[queue_id(queue) + "AgeAlarm"] = alarm(
            f"the oldest message of {name} waits for more than {age_bound(queue)} s: its function does not keep up",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            {"QueueName": {"Fn::GetAtt": [queue_id(queue), "QueueName"]}},
            "Maximum",
            threshold=age_bound(queue),
        )
    for name in functions:
        for metric, meaning in (("Errors", "crashed or timed out"), ("Throttles", "was throttled")):
            out[f"{function_id(name)}{metric}Alarm"] = alarm(
                f"function {name} {meaning} (see its log group)",
                "AWS/Lambda",
                metric,
                {"FunctionName": {"Ref": function_id(name)}},
                "Sum",
                period=WINDOW_SECONDS,
            )
    for metric in ALERT_METRICS:
        out[f"{metric}Alarm"] = alarm(
            f"{metric} counted (see the ERROR log lines of service {SERVICE})",
            METRICS_NAMESPACE,
            metric,
            {"service": SERVICE},
            "Sum",
        )
    out["WeComErrorRateAlarm"] = query_alarm(
        f"more than {WECOM_ERROR_RATE:.0%} of WeCom calls answered with an error for 5 min (the 'wecom call failed' "
        "log lines name the API and errcode)",
        WECOM_ERRORS_QUERY,
        WECOM_ERROR_RATE,
    )
    out["WeCom45009Alarm"] = query_alarm(
        f"more than {FLEET_45009_PER_5_MIN} WeCom 45009 (frequency limit) answers across the fleet in 5 min",
        FLEET_45009_QUERY,
        FLEET_45009_PER_5_MIN,
    )
    return out


def _metric_widget(title: str, metrics: list[list[Any]], x: int, y: int, stat: str = "Sum") -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {"title": title, "region": "${AWS::Region}", "stat": stat, "period": 60, "metrics": metrics},
    }


def _logs_widget(title: str, function: str, query: str, x: int, y: int) -> dict[str, Any]:
    return {
        "type": "log",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {
            "title": title,
            "region": "${AWS::Region}",
            "view": "timeSeries",
            "query": f"SOURCE '/aws/lambda/${{{function_id(function)}}}' | {query}",
        },
    }


def _search(metric: str, dimensions: str, stat: str, label: str, term: str = "") -> list[Any]:
    """A widget row: a SEARCH expression over every series of `metric` (optionally those matching `term`, an API
    name say)."""
    terms = " ".join(filter(None, (f'MetricName="{metric}"', term)))
    return [{"expression": f"SEARCH('{{{METRICS_NAMESPACE},{dimensions}}} {terms}', '{stat}', 60)", "label": label}]


def dashboard(region: Region, queue_names: dict[str, str], functions: list[str]) -> dict[str, Any]:
    """One dashboard per region: queues, functions, WeCom, callbacks, welcome delay, mass-message progress, beacons."""
    queues = [queue_names[q.logical] for q in resources.QUEUES]
    widgets = [
        _metric_widget(
            "Queue depth (visible), with DLQs",
            [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q] for q in queues]
            + [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"{q}-dlq"] for q in queues],
            0,
            0,
            "Maximum",
        ),
        _metric_widget(
            "Age of oldest message (s)",
            [["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", q] for q in queues],
            12,
            0,
            "Maximum",
        ),
        _metric_widget(
            "Function errors and throttles",
            [
                ["AWS/Lambda", metric, "FunctionName", f"${{{function_id(f)}}}"]
                for metric in ("Errors", "Throttles")
                for f in functions
            ],
            0,
            6,
        ),
        _metric_widget(
            "Function concurrency",
            [["AWS/Lambda", "ConcurrentExecutions", "FunctionName", f"${{{function_id(f)}}}"] for f in functions],
            12,
            6,
            "Maximum",
        ),
        _metric_widget(
            "WeCom calls and errors by API",
            [
                _search("WeComCalls", "api,service", "Sum", "calls"),
                _search("WeComErrors", "api,service", "Sum", "errors"),
            ],
            0,
            12,
        ),
        _metric_widget(
            "WeCom 45009 (fleet) and latency p99 (ms)",
            [
                [{"expression": FLEET_45009_QUERY, "label": "45009 answers", "id": "f"}],
                _search("WeComLatency", "api,service", "p99", "latency p99"),
            ],
            12,
            12,
        ),
        _metric_widget(
            "Callbacks queued (new friends, other events)",
            [
                ["AWS/SQS", "NumberOfMessagesSent", "QueueName", queue_names[resources.EVENTS_REALTIME.logical]],
                ["AWS/SQS", "NumberOfMessagesSent", "QueueName", queue_names[resources.EVENTS.logical]],
            ],
            0,
            18,
        ),
    ]
    logs = [
        _logs_widget(
            "Welcome delay (s from the new friend to the welcome)",
            WELCOME_FUNCTION,
            'filter message = "welcome" | stats pct(age_s, 50) as p50, pct(age_s, 99) as p99, max(age_s) as worst '
            "by bin(1m)",
            12,
            18,
        ),
        _logs_widget(
            "Mass messages dispatched and done",
            DISPATCH_FUNCTION,
            'filter message in ["broadcast dispatched", "broadcast done"] | stats count(*) by message, bin(5m)',
            12,
            24,
        ),
    ]
    widgets += [
        widget
        for widget, function in zip(logs, (WELCOME_FUNCTION, DISPATCH_FUNCTION), strict=True)
        if function in functions
    ]
    widgets += [
        _metric_widget(
            "Mass messages: batches waiting and sent to WeCom",
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue_names[resources.DISPATCH.logical]],
                _search("WeComCalls", "api,service", "Sum", "add_msg_template calls", "add_msg_template"),
            ],
            0,
            24,
        ),
        _metric_widget("Beacons accepted", [[METRICS_NAMESPACE, BEACONS_METRIC, "service", SERVICE]], 0, 30),
    ]
    body = json.dumps({"widgets": widgets}, separators=(",", ":"))
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {
            "DashboardName": region.stack_name,
            "DashboardBody": {"Fn::Sub": body},
        },
    }
