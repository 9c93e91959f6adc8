import boto3

from chalicelib import resources


def test_local_provisioning_creates_declared_tables_queues_and_redrive(aws):
    dynamodb = boto3.client("dynamodb")
    assert set(dynamodb.list_tables()["TableNames"]) == {t.name for t in resources.TABLES}
    ttl = dynamodb.describe_time_to_live(TableName=resources.DATA.name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=resources.DISPATCH.name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == str(resources.DISPATCH.visibility_timeout)
    assert f"{resources.DISPATCH.name}-dlq" in attrs["RedrivePolicy"]
