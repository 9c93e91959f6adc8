"""Who views a shared page: the order of WeChat's OAuth steps, consent, and the page's cookies."""

from __future__ import annotations

import pytest

from chalicelib.domain import wechat_identity as identity
from chalicelib.domain.wechat_identity import AfterBase, Consent, Entry


@pytest.mark.parametrize(
    ("wechat", "configured", "consent", "has_viewer", "expected"),
    [
        (False, True, Consent.YES, False, Entry.PAGE),
        (True, False, Consent.YES, False, Entry.PAGE),
        (True, True, Consent.NO, False, Entry.PAGE),
        (True, True, Consent.UNDECIDED, False, Entry.ASK_CONSENT),
        (True, True, Consent.YES, False, Entry.AUTHORIZE_BASE),
        (True, True, Consent.YES, True, Entry.PAGE),
    ],
)
def test_entry_asks_consent_before_any_oauth_and_only_inside_wechat(wechat, configured, consent, has_viewer, expected):
    assert identity.entry(wechat=wechat, oa_configured=configured, consent=consent, has_viewer=has_viewer) is expected


def test_a_viewer_token_counts_only_inside_wechat_with_consent_standing():
    assert identity.viewer_allowed(wechat=True, consent=Consent.YES)
    assert not identity.viewer_allowed(wechat=False, consent=Consent.YES)
    assert not identity.viewer_allowed(wechat=True, consent=Consent.NO)
    assert not identity.viewer_allowed(wechat=True, consent=Consent.UNDECIDED)


def test_userinfo_is_asked_only_when_no_unionid_is_known_and_the_tenant_allows_it():
    assert identity.after_base(unionid_from_wechat="u1", remembered_unionid="", allow_userinfo=True) == (
        AfterBase.IDENTIFY,
        "u1",
    )
    assert identity.after_base(unionid_from_wechat="", remembered_unionid="u2", allow_userinfo=True) == (
        AfterBase.IDENTIFY,
        "u2",
    )
    assert identity.after_base(unionid_from_wechat="", remembered_unionid="", allow_userinfo=True) == (
        AfterBase.AUTHORIZE_USERINFO,
        "",
    )
    assert identity.after_base(unionid_from_wechat="", remembered_unionid="", allow_userinfo=False) == (
        AfterBase.IDENTIFY,
        "",
    )


def test_cookies_are_read_per_tenant_and_odd_values_are_ignored():
    header = f"{identity.consent_cookie('acme-1')}=1; {identity.viewer_cookie('acme-1')}=v.1.abcd.x; other=<script>"
    cookies = identity.read_cookies(header)
    assert identity.consent_of(cookies, "acme-1") is Consent.YES
    assert identity.consent_of(cookies, "beta") is Consent.UNDECIDED
    assert "other" not in cookies
    assert identity.read_cookies('qr_consent_acme="1; broken') == {}
    assert identity.in_wechat("Mozilla/5.0 MicroMessenger/8.0.47")
    assert not identity.in_wechat(None)


def test_cookies_are_http_only_and_lax_and_secure_on_https():
    cookie = identity.set_cookie("qr_consent_acme", "1", 60, "/", secure=True)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert cookie.endswith("Secure")
    assert "Secure" not in identity.set_cookie("qr_consent_acme", "1", 60, "/", secure=False)
