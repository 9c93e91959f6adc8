"""The pump's pure parts: event shapes, failure reports, schedule periods."""

import pytest
from chalice import Cron, Rate

from local.pump import failed_message_ids, partition, rate_seconds, scheduled_event, sqs_event_record

MESSAGE = {
    "MessageId": "m-1",
    "ReceiptHandle": "rh-1",
    "MD5OfBody": "0" * 32,
    "Body": "{}",
    "Attributes": {
        "SenderId": "AIDA",
        "SentTimestamp": "1",
        "ApproximateReceiveCount": "3",
        "ApproximateFirstReceiveTimestamp": "2",
    },
    "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "7"}},
}


def test_sqs_record_has_the_lambda_shape():
    record = sqs_event_record(MESSAGE, "arn:aws:sqs:us-east-1:1:q", "us-east-1")
    assert record == {
        "messageId": "m-1",
        "receiptHandle": "rh-1",
        "body": "{}",
        "attributes": MESSAGE["Attributes"],
        "messageAttributes": {
            "n": {"stringValue": "7", "stringListValues": [], "binaryListValues": [], "dataType": "Number"}
        },
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
        "awsRegion": "us-east-1",
    }


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (None, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "z"}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{}]}, None),
    ],
)
def test_failure_reports_are_read_as_lambda_reads_them(result, expected):
    assert failed_message_ids(result, ["a", "b"]) == expected


def test_rate_expressions_become_periods_and_cron_is_not_run():
    assert rate_seconds(Rate(5, unit=Rate.MINUTES)) == 300
    assert rate_seconds(Rate(1, unit=Rate.HOURS)) == 3600
    assert rate_seconds("rate(2 days)") == 2 * 86400
    assert rate_seconds(Cron(0, 10, "*", "*", "?", "*")) is None


def test_scheduled_event_names_its_rule_in_the_region_partition():
    event = scheduled_event("arn:aws-cn:events:cn-north-1:1:rule/r", "cn-north-1")
    assert (event["detail-type"], event["source"], event["resources"]) == (
        "Scheduled Event",
        "aws.events",
        ["arn:aws-cn:events:cn-north-1:1:rule/r"],
    )
    assert (partition("cn-northwest-1"), partition("ap-southeast-1")) == ("aws-cn", "aws")
