"""A tenant's WeCom secrets, encrypted at rest in SSM Parameter Store (SecureString) under `Settings.secrets_prefix`.

Only this module reads or writes them. Values never go to logs; callers get them back only through
`chalicelib.store.tenants` (cached credentials) or once, at creation or rotation, in the ops response.
"""

from __future__ import annotations

import os
import secrets
import string
from functools import lru_cache
from typing import Any

import boto3

from chalicelib.config import Settings, get_settings
from chalicelib.store.keys import TenantKeys

APP_SECRET = "app_secret"  # noqa: S105 - parameter names, not secrets
CALLBACK_TOKEN = "callback_token"  # noqa: S105
ENCODING_AES_KEY = "encoding_aes_key"
SECRET_NAMES: tuple[str, ...] = (APP_SECRET, CALLBACK_TOKEN, ENCODING_AES_KEY)

_ALPHANUMERIC = string.ascii_letters + string.digits
CALLBACK_TOKEN_LENGTH = 32
ENCODING_AES_KEY_LENGTH = 43


def new_callback_token() -> str:
    """A callback token as WeCom accepts it: up to 32 letters and digits."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(CALLBACK_TOKEN_LENGTH))


def new_encoding_aes_key() -> str:
    """An EncodingAESKey: 43 characters of [a-zA-Z0-9], the Base64 of a 32-byte AES key without its '='."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(ENCODING_AES_KEY_LENGTH))


@lru_cache(maxsize=4)
def _ssm_client(region: str, endpoint: str | None) -> Any:
    return boto3.client("ssm", region_name=region)


def _ssm(region: str) -> Any:
    """One client per region and endpoint (the local stack points endpoints at its moto server)."""
    return _ssm_client(region, os.environ.get("AWS_ENDPOINT_URL_SSM") or os.environ.get("AWS_ENDPOINT_URL"))


def parameter_name(settings: Settings, tenant_id: str, name: str) -> str:
    TenantKeys(tenant_id)
    return f"{settings.secrets_prefix}/tenants/{tenant_id}/{name}"


def put_secrets(tenant_id: str, values: dict[str, str]) -> None:
    """Write (or overwrite) some of a tenant's secrets."""
    settings = get_settings()
    unknown = set(values) - set(SECRET_NAMES)
    if unknown:
        raise KeyError(f"unknown secret names: {sorted(unknown)}")
    client = _ssm(settings.region)
    for name, value in values.items():
        client.put_parameter(
            Name=parameter_name(settings, tenant_id, name), Value=value, Type="SecureString", Overwrite=True
        )


def get_secrets(tenant_id: str) -> dict[str, str]:
    """The tenant's decrypted secrets by name; names never written are absent."""
    settings = get_settings()
    by_parameter = {parameter_name(settings, tenant_id, name): name for name in SECRET_NAMES}
    answer = _ssm(settings.region).get_parameters(Names=list(by_parameter), WithDecryption=True)
    return {by_parameter[p["Name"]]: p["Value"] for p in answer["Parameters"]}


def get_parameter(tenant_id: str, name: str) -> str | None:
    """One of the tenant's other secure parameters (e.g. its share keys), decrypted; None when never written."""
    settings = get_settings()
    try:
        answer = _ssm(settings.region).get_parameter(
            Name=parameter_name(settings, tenant_id, name), WithDecryption=True
        )
    except _ssm(settings.region).exceptions.ParameterNotFound:
        return None
    return answer["Parameter"]["Value"]


def put_parameter(tenant_id: str, name: str, value: str, *, overwrite: bool) -> bool:
    """Write one of the tenant's other secure parameters; False when it exists and `overwrite` is off."""
    settings = get_settings()
    client = _ssm(settings.region)
    try:
        client.put_parameter(
            Name=parameter_name(settings, tenant_id, name), Value=value, Type="SecureString", Overwrite=overwrite
        )
    except client.exceptions.ParameterAlreadyExists:
        return False
    return True
