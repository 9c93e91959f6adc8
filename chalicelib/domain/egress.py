"""The public IPs a region's WeCom calls leave from, and what the per-IP rate limit buckets key on.

A region's stack runs its WeCom-calling functions in private subnets that reach the internet through one NAT gateway
with an Elastic IP per availability zone, and passes those IPs as `EGRESS_IPS` (comma-separated). Lambda places a
function's network interface in any of the subnets and the function cannot tell which NAT its call leaves by, so the
region's IPs share one per-IP bucket (keyed on all of them): the fleet never exceeds WeCom's per-IP limit on any IP,
at the cost of using 1/N of N IPs' allowance (20,000 calls a minute per API, twice the per-corp limit, so one IP's
allowance still serves two busy corps at their own limit).
"""

from __future__ import annotations

import ipaddress

UNKNOWN = "default"


def parse_egress_ips(value: str) -> tuple[str, ...]:
    """The distinct IPs of `EGRESS_IPS`, sorted; raises ValueError on something that is not an IP."""
    return tuple(sorted({str(ipaddress.ip_address(p.strip())) for p in value.split(",") if p.strip()}))


def ip_bucket_key(egress_ips: tuple[str, ...], fallback: str) -> str:
    """The per-IP bucket's key: every IP of the region at once, or `fallback` (the local stack's) without them."""
    return "+".join(egress_ips) if egress_ips else (fallback or UNKNOWN)
