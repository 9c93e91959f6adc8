import pytest

from chalicelib.domain.signed_tokens import (
    SHARE_LIFETIME_SECONDS,
    InvalidToken,
    OAuthNonceClaims,
    SalesLinkClaims,
    ShareClaims,
    StaffSessionClaims,
    ViewerClaims,
    sign,
    tenant_of,
    verify,
    verify_share,
    verify_viewer,
)

KEYS = {"t1": {1: b"k" * 32}, "t2": {1: b"j" * 32}}
NOW = 1_800_000_000


def keys_of(tenant_id: str) -> dict[int, bytes]:
    return KEYS.get(tenant_id, {})


def share(tenant_id: str = "t1", **changes: object) -> ShareClaims:
    fields = {"tenant_id": tenant_id, "material_id": "m1", "sharer": "zhangsan", "campaign": "", "issued_at": NOW}
    fields.update(changes)
    return ShareClaims(**fields)  # type: ignore[arg-type]


def test_a_share_token_round_trips_and_names_its_tenant() -> None:
    token = sign(share(campaign="b-42"), KEYS["t1"])
    assert tenant_of(token) == "t1"
    assert verify_share(token, keys_of, NOW + 60) == share(campaign="b-42")


def test_a_viewer_token_round_trips() -> None:
    claims = ViewerClaims("t1", "openid-1", "union-1", "wmABC", True, NOW)
    assert verify_viewer(sign(claims, KEYS["t1"]), keys_of, NOW) == claims


def test_every_altered_character_is_refused() -> None:
    token = sign(share(), KEYS["t1"])
    for position in range(len(token)):
        changed = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]
        with pytest.raises(InvalidToken):
            verify_share(changed, keys_of, NOW)


def test_a_token_claiming_another_tenant_does_not_verify() -> None:
    forged = sign(share(tenant_id="t2"), KEYS["t1"])
    with pytest.raises(InvalidToken):
        verify_share(forged, keys_of, NOW)


def test_expired_and_future_tokens_are_refused() -> None:
    token = sign(share(), KEYS["t1"])
    with pytest.raises(InvalidToken):
        verify_share(token, keys_of, NOW + SHARE_LIFETIME_SECONDS)
    with pytest.raises(InvalidToken):
        verify_share(token, keys_of, NOW - 3600)


def test_the_newest_key_signs_and_older_versions_verify_until_dropped() -> None:
    ring = {1: b"old" * 11, 2: b"new" * 11}
    old_token = sign(share(), {1: ring[1]})
    new_token = sign(share(), ring)
    assert new_token.split(".")[1] == "2"
    assert verify_share(old_token, lambda _: ring, NOW) == share()
    with pytest.raises(InvalidToken):
        verify_share(old_token, lambda _: {2: ring[2]}, NOW)
    assert verify_share(new_token, lambda _: {2: ring[2]}, NOW) == share()


def test_a_share_token_is_not_a_viewer_token() -> None:
    token = sign(share(), KEYS["t1"])
    with pytest.raises(InvalidToken):
        verify_viewer(token, keys_of, NOW)


@pytest.mark.parametrize("garbage", ["", "s.1.e30.AAAA", "x" * 700, "s.1.!!!!.AAAAAAAAAAAAAAAAAAAAAA", 42])
def test_malformed_tokens_are_refused(garbage: object) -> None:
    with pytest.raises(InvalidToken):
        verify_share(garbage, keys_of, NOW)  # type: ignore[arg-type]


def test_sales_view_tokens_round_trip_and_never_pass_for_another_kind() -> None:
    link = SalesLinkClaims("t1", "wmABC", "zhangsan", NOW)
    session = StaffSessionClaims("t1", "zhangsan", NOW)
    nonce = OAuthNonceClaims("t1", "0123abcd", NOW)
    pairs = ((SalesLinkClaims, link), (StaffSessionClaims, session), (OAuthNonceClaims, nonce))
    tokens = {kind: sign(claims, KEYS["t1"]) for kind, claims in pairs}
    assert verify(tokens[SalesLinkClaims], SalesLinkClaims, keys_of, NOW) == link
    assert verify(tokens[StaffSessionClaims], StaffSessionClaims, keys_of, NOW) == session
    assert verify(tokens[OAuthNonceClaims], OAuthNonceClaims, keys_of, NOW) == nonce
    for kind, token in tokens.items():
        for other in (SalesLinkClaims, StaffSessionClaims, OAuthNonceClaims, ShareClaims):
            if other is not kind:
                with pytest.raises(InvalidToken):
                    verify(token, other, keys_of, NOW)


def test_a_session_and_an_oauth_nonce_expire_after_8_hours_and_10_minutes() -> None:
    session = sign(StaffSessionClaims("t1", "zhangsan", NOW), KEYS["t1"])
    nonce = sign(OAuthNonceClaims("t1", "0123abcd", NOW), KEYS["t1"])
    assert verify(session, StaffSessionClaims, keys_of, NOW + 8 * 3600 - 1).userid == "zhangsan"
    assert verify(nonce, OAuthNonceClaims, keys_of, NOW + 599).nonce == "0123abcd"
    with pytest.raises(InvalidToken):
        verify(session, StaffSessionClaims, keys_of, NOW + 8 * 3600)
    with pytest.raises(InvalidToken):
        verify(nonce, OAuthNonceClaims, keys_of, NOW + 600)
