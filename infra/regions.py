"""The regions ops deploy, one self-contained stack each, read from `infra/regions.json`.

Each entry names the AWS region, the Chalice stage its functions run as, the public domain tenants reach the API
under (`PUBLIC_BASE_URL`), the address the alarms mail, the availability zones that each get a NAT gateway with an
Elastic IP (WeCom's trusted IPs), and caps on how many functions each queue may run at once in that region.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib import resources

REGIONS_FILE = Path(__file__).resolve().parent / "regions.json"
MAX_NAT_AZS = 4
DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,63}")
LAMBDA_MIN_SQS_CONCURRENCY = 2


class RegionConfigError(ValueError):
    """An entry of the regions file that a stack cannot be built from."""


@dataclass(frozen=True)
class Region:
    """One region's stack: where, which stage, under which domain, who hears the alarms, its egress zones and caps."""

    region: str
    stage: str
    domain: str
    alert_email: str
    nat_azs: tuple[str, ...]
    max_concurrency: dict[str, int] = field(default_factory=dict)

    @property
    def public_base_url(self) -> str:
        """Where WeCom and tenants reach the API: the domain's root (its base path mapping points at the stage)."""
        return f"https://{self.domain}" if self.domain else ""

    @property
    def stack_name(self) -> str:
        return f"{resources.APP_NAME}-{self.stage}-{self.region}"

    def queue_concurrency(self, queue: resources.Queue) -> int | None:
        """The queue's cap on concurrent functions in this region: the region's own, else the declared one."""
        return self.max_concurrency.get(queue.logical, queue.max_concurrency)


def parse_region(entry: dict[str, Any]) -> Region:
    """A checked Region from one entry of the regions file."""
    known = {"region", "stage", "domain", "alert_email", "nat_azs", "max_concurrency"}
    if set(entry) - known:
        raise RegionConfigError(f"unknown keys {sorted(set(entry) - known)} in {entry.get('region')!r}")
    name = str(entry.get("region", ""))
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", name):
        raise RegionConfigError(f"region {name!r} is not an AWS region name")
    azs = tuple(entry.get("nat_azs", ()))
    if not 1 <= len(azs) <= MAX_NAT_AZS or len(set(azs)) != len(azs):
        raise RegionConfigError(f"{name}: nat_azs must list 1 to {MAX_NAT_AZS} distinct zones")
    if any(not (az.startswith(name) and len(az) == len(name) + 1) for az in azs):
        raise RegionConfigError(f"{name}: every NAT zone must be a zone of the region, got {list(azs)}")
    domain = str(entry.get("domain", ""))
    if not DOMAIN.fullmatch(domain):
        raise RegionConfigError(f"{name}: domain {domain!r} is not a host name")
    email = str(entry.get("alert_email", ""))
    if not EMAIL.fullmatch(email):
        raise RegionConfigError(f"{name}: alert_email {email!r} is not an e-mail address")
    caps = dict(entry.get("max_concurrency", {}))
    declared = {q.logical for q in resources.QUEUES}
    for queue, cap in caps.items():
        if queue not in declared:
            raise RegionConfigError(f"{name}: max_concurrency names {queue!r}, not a queue of chalicelib.resources")
        if not isinstance(cap, int) or cap < LAMBDA_MIN_SQS_CONCURRENCY:
            raise RegionConfigError(f"{name}: max_concurrency of {queue} must be an integer of at least 2")
    return Region(name, str(entry.get("stage", "")), domain, email, azs, caps)


def load_regions(path: Path = REGIONS_FILE) -> list[Region]:
    """Every region of the regions file, each region at most once."""
    regions = [parse_region(entry) for entry in json.loads(path.read_text())["regions"]]
    names = [r.region for r in regions]
    if len(set(names)) != len(names):
        raise RegionConfigError(f"a region is listed twice: {names}")
    return regions


def find_region(name: str, path: Path = REGIONS_FILE) -> Region:
    """The listed region called `name`."""
    for region in load_regions(path):
        if region.region == name:
            return region
    raise RegionConfigError(f"{name} is not listed in {path.name}")
