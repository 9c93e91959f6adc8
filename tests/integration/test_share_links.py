"""Share links on moto: lazily made keys kept as a SecureString, verification from the cache, rotation."""

import time

import boto3
import pytest

from chalicelib.domain import signed_tokens
from chalicelib.domain.signed_tokens import InvalidToken, ShareClaims
from chalicelib.services import share_links


@pytest.fixture
def links(aws, monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://reach.example.com/api")
    share_links._rings.forget()
    yield aws
    share_links._rings.forget()


def test_first_share_makes_a_secure_key_and_its_link_opens(links):
    token, url = share_links.create_share("acme", "m1", "zhangsan", "bc-1")
    assert url == f"https://reach.example.com/api/s/{token}"
    parameter = boto3.client("ssm").get_parameter(Name=f"{links.secrets_prefix}/tenants/acme/share_keys")
    assert parameter["Parameter"]["Type"] == "SecureString"
    claims = share_links.open_share(token, time.time())
    assert (claims.tenant_id, claims.material_id, claims.sharer, claims.campaign) == ("acme", "m1", "zhangsan", "bc-1")


def test_forged_altered_and_other_tenant_tokens_do_not_open(links):
    token, _ = share_links.create_share("acme", "m1", "zhangsan", "")
    share_links.create_share("beta", "m1", "lisi", "")
    with pytest.raises(InvalidToken):
        share_links.open_share(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), time.time())
    forged = signed_tokens.sign(ShareClaims("beta", "m1", "x", "", int(time.time())), share_links.share_keys_of("acme"))
    with pytest.raises(InvalidToken):
        share_links.open_share(forged, time.time())
    unknown = signed_tokens.sign(ShareClaims("nobody", "m1", "x", "", int(time.time())), {1: b"k" * 32})
    with pytest.raises(InvalidToken):
        share_links.open_share(unknown, time.time())
    with pytest.raises(InvalidToken):
        share_links.open_share(token, time.time() + signed_tokens.SHARE_LIFETIME_SECONDS + 10)


def test_rotation_keeps_old_links_unless_asked_to_invalidate(links):
    old, _ = share_links.create_share("acme", "m1", "zhangsan", "")
    assert share_links.rotate_keys("acme", invalidate_old=False) == 2
    newer, _ = share_links.create_share("acme", "m1", "zhangsan", "")
    assert newer.split(".")[1] == "2"
    share_links.open_share(old, time.time())
    assert share_links.rotate_keys("acme", invalidate_old=True) == 3
    for token in (old, newer):
        with pytest.raises(InvalidToken):
            share_links.open_share(token, time.time())
    share_links.open_share(share_links.create_share("acme", "m1", "zhangsan", "")[0], time.time())
