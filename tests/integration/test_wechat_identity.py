"""WeChat identity on the shared page against the simulator's WeChat: consent, the silent OAuth step, the userinfo
step only when needed, the unionid index to the tenant's customer, the mini-program session, and anonymous views."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from chalicelib.domain import signed_tokens
from chalicelib.domain.wechat_identity import OAUTH_NONCE_COOKIE
from chalicelib.services import share_links, share_page
from chalicelib.store.customer_directory import CustomerDirectory
from chalicelib.store.customer_profiles import CustomerProfile
from chalicelib.store.customers import CustomerStore

WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile MicroMessenger/8.0.47 NetType/WIFI"


@pytest.fixture
def shared(sim_tenant_factory):
    """A tenant with its customers' profiles stored, its WeChat apps set, a link material and a share of it."""
    share_links._rings.forget()
    share_page._apps.forget()
    share_page._cards.forget()
    tenant = sim_tenant_factory("wx-corp", customers=40, employees=4)
    CustomerDirectory(tenant.tenant_id).put_profiles(
        CustomerProfile(c.external_userid, 1, name=c.name, unionid=c.unionid)
        for c in tenant.company.book.customers.values()
    )
    apps = tenant.sim.wechat_apps(tenant.company)
    body = {
        "oa_appid": apps["oa"][0],
        "oa_secret": apps["oa"][1],
        "allow_userinfo": True,
        "mp_appid": apps["mp"][0],
        "mp_secret": apps["mp"][1],
    }
    answer = tenant.admin("PUT", "/v1/wechat", body)
    assert answer.status_code == 200, answer.body
    assert "secret" not in json.dumps(answer.json_body)
    material = tenant.admin(
        "POST", "/v1/materials", {"type": "link", "title": "新品", "url": "https://shop.example.com/a"}
    )
    token, _ = share_links.create_share(tenant.tenant_id, material.json_body["material"]["material_id"], "emp00001")
    yield tenant, token
    share_links._rings.forget()


def a_customer_with_unionid(tenant):
    return next(c for c in tenant.company.book.customers.values() if c.unionid)


def cookie_of(response) -> str:
    values = response.headers.get("set-cookie") or response.headers.get("Set-Cookie")
    values = values if isinstance(values, list) else [values] if values else []
    return "; ".join(v.split(";", 1)[0] for v in values)


def through_wechat(tenant, location: str, person: str) -> tuple[str, str]:
    """Follow the app's redirect into the simulator's OAuth page as `person`; the code and state it returns."""
    answer = httpx.get(location.split("#")[0], headers={"User-Agent": f"{WECHAT_UA} SimWeChatUser/{person}"})
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    query = parse_qs(back.query)
    return query["code"][0], query["state"][0]


def open_as(tenant, token: str, person: str, cookies: str) -> tuple[int, list[str], str]:
    """Open the page inside WeChat as `person`, following OAuth with the cookies each answer sets, as a browser does;
    (status, scopes asked, final cookies)."""
    scopes = []
    answer = tenant.api.get(f"/s/{token}", headers={"User-Agent": WECHAT_UA, "Cookie": cookies})
    while answer.status_code == 302 and "/connect/oauth2/authorize" in answer.headers["Location"]:
        scopes.append(parse_qs(urlsplit(answer.headers["Location"]).query)["scope"][0])
        code, state = through_wechat(tenant, answer.headers["Location"], person)
        with_nonce = cookies + "; " + cookie_of(answer)
        answer = tenant.api.get(f"/s/{token}/oauth?code={code}&state={state}", headers={"Cookie": with_nonce})
    assert answer.status_code == 302, answer.body
    assert answer.headers["Location"] == f"/s/{token}"
    return answer.status_code, scopes, cookies + "; " + cookie_of(answer)


def test_an_oauth_return_not_started_by_this_browser_identifies_no_one(shared):
    tenant, token = shared
    customer = a_customer_with_unionid(tenant)
    consented = cookie_of(tenant.api.get(f"/s/{token}/consent?choice=1", headers={"User-Agent": WECHAT_UA}))
    started = tenant.api.get(f"/s/{token}", headers={"User-Agent": WECHAT_UA, "Cookie": consented})
    assert started.status_code == 302
    nonce_cookie = cookie_of(started)
    assert nonce_cookie.startswith(f"{OAUTH_NONCE_COOKIE}=")
    code, state = through_wechat(tenant, started.headers["Location"], customer.unionid)
    traded_before = tenant.sim.wechat.calls.get("/sns/oauth2/access_token", 0)

    other_browser = tenant.api.get(f"/s/{token}/oauth?code={code}&state={state}", headers={"Cookie": consented})
    changed = state[:-1] + ("1" if state.endswith("0") else "0")
    altered = tenant.api.get(
        f"/s/{token}/oauth?code={code}&state={changed}", headers={"Cookie": f"{consented}; {nonce_cookie}"}
    )
    for answer in (other_browser, altered):
        assert answer.status_code == 200  # the page, anonymous: no viewer cookie, no code traded
        assert 'data-viewer=""' in answer.body.decode()
        assert not cookie_of(answer)
    assert tenant.sim.wechat.calls.get("/sns/oauth2/access_token", 0) == traded_before

    mine = tenant.api.get(
        f"/s/{token}/oauth?code={code}&state={state}", headers={"Cookie": f"{consented}; {nonce_cookie}"}
    )
    assert mine.status_code == 302  # on to the snsapi_userinfo step: this browser's return is honoured
    assert tenant.sim.wechat.calls.get("/sns/oauth2/access_token", 0) == traded_before + 1


def viewer_in(tenant, token: str, cookies: str) -> signed_tokens.ViewerClaims | None:
    page = tenant.api.get(f"/s/{token}", headers={"User-Agent": WECHAT_UA, "Cookie": cookies})
    assert page.status_code == 200
    viewer = re.search(r'data-viewer="([^"]*)"', page.body.decode()).group(1)
    if not viewer:
        return None
    return signed_tokens.verify_viewer(viewer, share_links.share_keys_of, time.time())


def test_a_customer_consents_and_is_named_by_unionid_userinfo_asked_only_once(shared):
    tenant, token = shared
    customer = a_customer_with_unionid(tenant)
    question = tenant.api.get(f"/s/{token}", headers={"User-Agent": WECHAT_UA})
    assert question.status_code == 200
    assert "同意并继续" in question.body.decode()
    consent = tenant.api.get(f"/s/{token}/consent?choice=1", headers={"User-Agent": WECHAT_UA})
    assert consent.status_code == 302
    cookies = cookie_of(consent)

    _, scopes, identified = open_as(tenant, token, customer.unionid, cookies)
    assert scopes == ["snsapi_base", "snsapi_userinfo"]
    claims = viewer_in(tenant, token, identified)
    assert claims is not None
    assert claims.consented
    assert (claims.unionid, claims.external_userid) == (customer.unionid, customer.external_userid)

    _, scopes_again, _ = open_as(tenant, token, customer.unionid, cookies)
    assert scopes_again == ["snsapi_base"]


def test_without_userinfo_a_stranger_is_an_openid_and_outside_wechat_everyone_is_anonymous(shared):
    tenant, token = shared
    tenant.admin("PUT", "/v1/wechat", {"oa_appid": tenant.sim.wechat_apps(tenant.company)["oa"][0]})
    share_page._apps.forget()
    cookies = cookie_of(tenant.api.get(f"/s/{token}/consent?choice=1"))
    _, scopes, identified = open_as(tenant, token, "walkin", cookies)
    assert scopes == ["snsapi_base"]
    claims = viewer_in(tenant, token, identified)
    assert claims is not None
    assert claims.openid
    assert not claims.external_userid

    declined = cookie_of(tenant.api.get(f"/s/{token}/consent?choice=0"))
    assert viewer_in(tenant, token, declined) is None
    outside = tenant.api.get(f"/s/{token}", headers={"User-Agent": "Mozilla/5.0 Chrome/120", "Cookie": identified})
    assert outside.status_code == 200
    assert 'data-viewer=""' in outside.body.decode()


def test_the_unionid_index_follows_profile_writes(shared):
    tenant, _ = shared
    customers = CustomerStore(tenant.tenant_id)
    customer = a_customer_with_unionid(tenant)
    assert customers.customer_of_unionid(customer.unionid) == customer.external_userid
    customers.upsert_profile(CustomerProfile(customer.external_userid, 2, unionid="o-rebound"))
    assert customers.customer_of_unionid(customer.unionid) is None
    assert customers.customer_of_unionid("o-rebound") == customer.external_userid
    assert CustomerStore("other-corp").customer_of_unionid("o-rebound") is None


def test_a_mini_program_trades_its_login_code_for_a_viewer_token(shared):
    tenant, token = shared
    customer = a_customer_with_unionid(tenant)
    mp_appid = tenant.sim.wechat_apps(tenant.company)["mp"][0]
    code = tenant.sim.wechat_login_code(mp_appid, customer.unionid)
    answer = tenant.api.post(
        "/t/mp/session", headers={"Content-Type": "application/json"}, body=json.dumps({"share": token, "code": code})
    )
    assert answer.status_code == 200, answer.body
    assert answer.json_body["identified"] is True
    claims = signed_tokens.verify_viewer(answer.json_body["viewer"], share_links.share_keys_of, time.time())
    assert claims.external_userid == customer.external_userid
    reused = tenant.api.post(
        "/t/mp/session", headers={"Content-Type": "application/json"}, body=json.dumps({"share": token, "code": code})
    )
    assert reused.status_code == 400
    forged = tenant.api.post(
        "/t/mp/session",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"share": token[:-3] + "AAA", "code": "x"}),
    )
    assert forged.status_code == 404
