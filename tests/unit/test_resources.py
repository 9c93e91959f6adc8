from chalicelib import resources
from chalicelib.config import get_settings
from local.provision import table_request


def test_every_table_and_queue_has_a_unique_name_and_env_var():
    names = [t.name for t in resources.TABLES] + [q.name for q in resources.QUEUES]
    env_vars = [t.env_var for t in resources.TABLES] + [q.env_var for q in resources.QUEUES]
    assert len(set(names)) == len(names)
    assert all(env_vars)
    assert len(set(env_vars)) == len(env_vars)


def test_settings_default_to_declared_names_and_honour_overrides():
    settings = get_settings({"TABLE_DATA": "other-data"})
    assert settings.table(resources.DATA) == "other-data"
    assert settings.table(resources.TENANTS) == resources.TENANTS.name
    assert settings.queue(resources.PLAN) == resources.PLAN.name


def test_table_request_defines_every_key_attribute_once():
    request = table_request(resources.DATA, "x")
    defined = [a["AttributeName"] for a in request["AttributeDefinitions"]]
    assert sorted(defined) == ["gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "pk", "sk"]
    assert {i["IndexName"] for i in request["GlobalSecondaryIndexes"]} == {"gsi1", "gsi2"}
