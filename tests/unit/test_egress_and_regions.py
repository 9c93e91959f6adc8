"""The region's egress IPs (settings and the per-IP bucket key) and the regions file's checks."""

from __future__ import annotations

import pytest

from chalicelib.config import get_settings
from chalicelib.domain.egress import ip_bucket_key, parse_egress_ips
from infra.regions import RegionConfigError, load_regions, parse_region

GOOD = {
    "region": "ap-east-1",
    "stage": "prod",
    "domain": "reach.example.com",
    "alert_email": "ops@example.com",
    "nat_azs": ["ap-east-1a", "ap-east-1b"],
}


def test_the_region_ips_are_parsed_sorted_and_the_ip_bucket_keys_on_all_of_them():
    settings = get_settings({"EGRESS_IPS": "18.1.2.4, 18.1.2.3,18.1.2.4"})
    assert settings.egress_ips == ("18.1.2.3", "18.1.2.4")
    assert settings.egress_ip == "18.1.2.3+18.1.2.4"
    assert get_settings({"EGRESS_IP": "127.0.0.1"}).egress_ip == "127.0.0.1"
    assert get_settings({}).egress_ip == ip_bucket_key((), "") == "default"
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        parse_egress_ips("18.1.2.3,not-an-ip")


def test_the_listed_regions_parse_and_a_region_gets_its_public_url_and_caps():
    regions = load_regions()
    assert len(regions) >= 2
    region = parse_region({**GOOD, "max_concurrency": {"dispatch": 4}})
    assert region.public_base_url == "https://reach.example.com"
    assert region.stack_name == "qiwei-reach-prod-ap-east-1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"region": "hongkong"}, "not an AWS region name"),
        ({"nat_azs": []}, "nat_azs must list 1 to 4"),
        ({"nat_azs": ["ap-east-1a", "ap-east-1a"]}, "nat_azs must list 1 to 4 distinct"),
        ({"nat_azs": ["us-east-1a"]}, "must be a zone of the region"),
        ({"domain": "https://x.example.com/"}, "is not a host name"),
        ({"alert_email": "ops"}, "is not an e-mail address"),
        ({"max_concurrency": {"nowhere": 5}}, "not a queue of chalicelib.resources"),
        ({"max_concurrency": {"dispatch": 1}}, "at least 2"),
        ({"colour": "blue"}, "unknown keys"),
    ],
)
def test_a_region_entry_a_stack_cannot_be_built_from_is_refused_with_the_reason(change, message):
    with pytest.raises(RegionConfigError, match=message):
        parse_region({**GOOD, **change})
