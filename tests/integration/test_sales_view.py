"""The sales view an alert card opens, on moto with the WeCom simulator: the card's signed link, WeCom's web OAuth for
members (nonce-bound state, single-use codes), the session cookie, who may see which customer, and bad links."""

from __future__ import annotations

import json
import re
import time
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from chalicelib.domain import materials as rules
from chalicelib.domain import signed_tokens
from chalicelib.domain.sales_access import NONCE_COOKIE, session_cookie
from chalicelib.domain.signed_tokens import SalesLinkClaims, StaffSessionClaims
from chalicelib.domain.tag_catalogue import CatalogueTag
from chalicelib.services import sales_links, share_links
from chalicelib.store.customer_directory import CustomerDirectory
from chalicelib.store.customer_profiles import CustomerProfile
from chalicelib.store.customers import CustomerStore
from chalicelib.store.materials import MaterialStore
from local.wecom_sim import SimConfig
from tests.integration.tracking_helpers import PAGE_ORIGIN, post_beacons, process, reading, viewer_token

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")

WECOM_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh"
WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile MicroMessenger/8.0.47 NetType/WIFI"


@pytest.fixture
def sales(sim_tenant_factory, monkeypatch):
    """A tenant with its customers, their profiles and the tag catalogue stored, and a link material."""
    monkeypatch.setenv("PUBLIC_BASE_URL", PAGE_ORIGIN)
    share_links._rings.forget()
    tenant = sim_tenant_factory(
        "sales-corp", config=SimConfig(seed=11), employees=4, customers=30, customers_in_store=True
    )
    book = tenant.company.book
    CustomerDirectory(tenant.tenant_id).put_profiles(
        CustomerProfile(c.external_userid, 1, name=c.name) for c in book.customers.values()
    )
    CustomerStore(tenant.tenant_id).put_tag_catalogue(
        CatalogueTag(t.group_id, t.id, t.name) for t in tenant.company.tags.tags.values()
    )
    material = MaterialStore(tenant.tenant_id).put(
        rules.MaterialSpec(type="link", title="春季手册", url="https://shop.example.com/a"), None, time.time()
    )
    tenant.material_id = material.material_id
    yield tenant
    share_links._rings.forget()


def followers(tenant, customer: str) -> list[str]:
    return sorted(f.userid for f in tenant.company.book.follows_of_customer(customer) if not f.deleted_by_customer)


def customers_of(tenant, userid: str) -> list[str]:
    return sorted(c for c in tenant.company.book.customers if userid in followers(tenant, c))


def a_busy_employee(tenant) -> str:
    """An employee with at least two customers."""
    return next(u for u in sorted(tenant.company.employees) if len(customers_of(tenant, u)) >= 2)


def cookies_set(response) -> dict[str, str]:
    """Each Set-Cookie of an answer by name: its full value with attributes."""
    values = response.headers.get("set-cookie") or response.headers.get("Set-Cookie") or []
    values = values if isinstance(values, list) else [values]
    return {v.split("=", 1)[0]: v for v in values}


def cookie_header(*set_cookies: str) -> str:
    return "; ".join(v.split(";", 1)[0] for v in set_cookies)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def through_wecom(location: str, user_agent: str) -> str:
    """Follow the app's redirect into the simulator's authorize page; the URL WeCom sends the browser back to."""
    answer = httpx.get(location.split("#")[0], headers={"User-Agent": user_agent})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def start_oauth(tenant, page: str) -> tuple[str, str]:
    """Open the page without a session: (the authorize URL, the nonce cookie as a request Cookie value)."""
    answer = tenant.api.get(page)
    assert answer.status_code == 302, answer.body
    nonce = cookies_set(answer)[NONCE_COOKIE]
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/sales/", "Max-Age=600"):
        assert attribute in nonce
    return answer.headers["Location"], cookie_header(nonce)


def log_in(tenant, page: str, userid: str) -> tuple[object, str]:
    """The whole round trip as member `userid`: (the OAuth return's answer, the callback URL WeCom gave)."""
    location, nonce = start_oauth(tenant, page)
    back = through_wecom(location, f"{WECOM_UA} SimWeComMember/{userid}")
    return tenant.api.get(path_of(back), headers={"Cookie": nonce}), path_of(back)


def session_of(answer) -> str:
    return cookie_header(cookies_set(answer)[session_cookie("sales-corp")])


def test_the_alert_card_opens_the_customer_after_wecom_oauth_and_the_session_serves_other_customers(sales):
    sharer = a_busy_employee(sales)
    customer, second = customers_of(sales, sharer)[:2]
    link = share_links.share_material(sales.tenant_id, sales.material_id, sharer)
    body = {"share": link["token"], "viewer": viewer_token(sales.tenant_id, customer), "session": "sales-view-1"}
    assert post_beacons(sales.api, body | {"events": reading(int(time.time() * 1000), 2)}).status_code == 202
    process()
    card = next(m for m in sales.stats()["app_messages"]["inbox"] if m["userid"] == sharer)
    assert card["url"].startswith(f"{PAGE_ORIGIN}/sales/customers/")
    page = path_of(card["url"])

    location, nonce = start_oauth(sales, page)
    authorize = urlsplit(location)
    query = parse_qs(authorize.query)
    assert (authorize.path, authorize.fragment) == ("/connect/oauth2/authorize", "wechat_redirect")
    assert (query["appid"], query["agentid"]) == ([sales.company.corpid], [str(sales.company.agent_id)])
    assert (query["scope"], query["response_type"]) == (["snsapi_base"], ["code"])
    assert query["redirect_uri"] == [f"{PAGE_ORIGIN}{page}/oauth"]
    assert query["state"][0].isalnum()
    back = through_wecom(location, f"{WECOM_UA} SimWeComMember/{sharer}")
    returned = sales.api.get(path_of(back), headers={"Cookie": nonce})
    assert returned.status_code == 302, returned.body
    assert returned.headers["Location"] == page
    session = cookies_set(returned)[session_cookie(sales.tenant_id)]
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/sales/", "Max-Age=28800"):
        assert attribute in session
    assert "Secure" not in session  # the local stack is served over http
    assert cookies_set(returned)[NONCE_COOKIE].startswith(f"{NONCE_COOKIE}=;")

    shown = sales.api.get(page, headers={"Cookie": cookie_header(session)})
    html = shown.body.decode()
    assert shown.status_code == 200, html
    assert shown.headers["Content-Security-Policy"].startswith("default-src 'none'; script-src 'self';")
    assert "<script" not in html
    assert sales.company.book.customers[customer].name in html
    assert "看了「春季手册」" in html
    assert "停留 10 秒" in html
    tags = [sales.company.tags.tags[t].name for t in sales.company.book.follow(sharer, customer).tag_ids]
    assert all(name in html for name in tags)
    style = html.split('<link rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    assert sales.api.get(style).headers["Content-Type"].startswith("text/css")

    other = path_of(sales_links.customer_url(sales.tenant_id, second, sharer))
    again = sales.api.get(other, headers={"Cookie": cookie_header(session)})
    assert again.status_code == 200
    assert sales.company.book.customers[second].name in again.body.decode()
    assert "还没有通过您的分享浏览过" in again.body.decode()

    replayed = sales.api.get(path_of(back), headers={"Cookie": nonce})
    assert replayed.status_code == 403
    assert "登录已失效" in replayed.body.decode()
    assert session_cookie(sales.tenant_id) not in cookies_set(replayed)


def test_an_employee_sees_only_customers_they_follow_or_were_alerted_about(sales):
    customer = sorted(sales.company.book.customers)[0]
    stranger = next(u for u in sorted(sales.company.employees) if u not in followers(sales, customer))
    follower = followers(sales, customer)[0]
    cases = [(follower, follower, 200), (stranger, follower, 404), (stranger, stranger, 200)]
    for userid, sharer, status in cases:
        page = path_of(sales_links.customer_url(sales.tenant_id, customer, sharer))
        returned, _ = log_in(sales, page, userid)
        answer = sales.api.get(page, headers={"Cookie": session_of(returned)})
        assert answer.status_code == status, (userid, sharer)
        if status == 404:
            assert answer.body.decode() == sales.api.get("/sales/customers/not-a-token").body.decode()


def test_bad_links_answer_the_plain_404_page(sales, sim_tenant_factory):
    customer = sorted(sales.company.book.customers)[0]
    sharer = followers(sales, customer)[0]
    good = path_of(sales_links.customer_url(sales.tenant_id, customer, sharer)).rsplit("/", 1)[1]
    other = sim_tenant_factory("other-corp", employees=2, customers=5)
    now = int(time.time())
    claims = SalesLinkClaims(sales.tenant_id, customer, sharer, now)
    bad = [
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        signed_tokens.sign(claims, {1: b"k" * 32}),
        signed_tokens.sign(claims, share_links.signing_keys(other.tenant_id)),
        signed_tokens.sign(
            SalesLinkClaims(sales.tenant_id, customer, sharer, now - signed_tokens.SALES_LINK_LIFETIME_SECONDS - 60),
            share_links.share_keys_of(sales.tenant_id),
        ),
        share_links.create_share(sales.tenant_id, sales.material_id, sharer)[0],
        "not-a-token",
    ]
    session = signed_tokens.sign(
        StaffSessionClaims(sales.tenant_id, sharer, now), share_links.share_keys_of(sales.tenant_id)
    )
    cookie = f"{session_cookie(sales.tenant_id)}={session}"
    assert sales.api.get(f"/sales/customers/{good}", headers={"Cookie": cookie}).status_code == 200
    for token in bad:
        for path in (f"/sales/customers/{token}", f"/sales/customers/{token}/oauth?code=x&state=y"):
            answer = sales.api.get(path, headers={"Cookie": cookie})
            assert answer.status_code == 404, (token, path)
            assert answer.headers["Content-Type"].startswith("text/html")
            assert "页面不存在" in answer.body.decode()


def test_anyone_but_a_member_is_refused(sales):
    customer = sorted(sales.company.book.customers)[0]
    page = path_of(sales_links.customer_url(sales.tenant_id, customer, followers(sales, customer)[0]))
    for user_agent in (f"{WECHAT_UA} SimWeChatUser/walkin", f"{WECOM_UA} SimWeComMember/not-a-member"):
        location, nonce = start_oauth(sales, page)
        answer = sales.api.get(path_of(through_wecom(location, user_agent)), headers={"Cookie": nonce})
        assert answer.status_code == 403, user_agent
        assert "仅限企业员工" in answer.body.decode()
        assert session_cookie(sales.tenant_id) not in cookies_set(answer)
    location, _ = start_oauth(sales, page)
    outside = httpx.get(location.split("#")[0], headers={"User-Agent": "Mozilla/5.0 Chrome/120"})
    assert outside.status_code == 200
    assert "企业微信" in outside.text


def test_a_return_not_bound_to_this_browser_or_with_a_bad_code_is_refused(sales):
    customer = sorted(sales.company.book.customers)[0]
    userid = followers(sales, customer)[0]
    page = path_of(sales_links.customer_url(sales.tenant_id, customer, userid))
    member = f"{WECOM_UA} SimWeComMember/{userid}"

    location, nonce = start_oauth(sales, page)
    back = path_of(through_wecom(location, member))
    _, other_nonce = start_oauth(sales, page)
    state = parse_qs(urlsplit(back).query)["state"][0]
    foreign = signed_tokens.sign(signed_tokens.OAuthNonceClaims("other-corp", state, int(time.time())), {1: b"o" * 32})
    refusals = [
        (back, ""),  # no nonce cookie: a code planted from another browser
        (back, other_nonce),  # this browser started another round trip
        (back, f"{NONCE_COOKIE}={foreign}"),  # a nonce cookie not signed by this tenant
        (back.replace(f"state={state}", "state=0"), nonce),
        (f"{page}/oauth?code=forged&state={state}", nonce),
        (f"{page}/oauth?state={state}", nonce),
    ]
    for path, cookie in refusals:
        answer = sales.api.get(path, headers={"Cookie": cookie} if cookie else {})
        assert answer.status_code == 403, path
        assert "登录已失效" in answer.body.decode()
        assert session_cookie(sales.tenant_id) not in cookies_set(answer)
    stats = sales.stats()
    assert stats["calls"].get("auth/getuserinfo", 0) == 1  # only the forged code reached WeCom: refused there
    good = sales.api.get(back, headers={"Cookie": nonce})
    assert good.status_code == 302  # the refusals above did not use the real code up
    assert session_cookie("other-corp") not in cookies_set(good)


def test_a_session_of_one_tenant_opens_nothing_of_another(sales, sim_tenant_factory):
    other = sim_tenant_factory("other-corp", employees=3, customers=6, customers_in_store=True)
    customer = sorted(sales.company.book.customers)[0]
    userid = followers(sales, customer)[0]
    returned, _ = log_in(sales, path_of(sales_links.customer_url(sales.tenant_id, customer, userid)), userid)
    session = cookies_set(returned)[session_cookie(sales.tenant_id)].split(";", 1)[0].split("=", 1)[1]
    theirs = sorted(other.company.book.customers)[0]
    page = path_of(sales_links.customer_url(other.tenant_id, theirs, userid))
    for cookie in (f"{session_cookie(sales.tenant_id)}={session}", f"{session_cookie(other.tenant_id)}={session}"):
        answer = other.api.get(page, headers={"Cookie": cookie})
        assert answer.status_code == 302
        assert "/connect/oauth2/authorize" in answer.headers["Location"]


def test_a_card_about_no_one_customer_opens_the_employees_own_page(sales):
    sharer = a_busy_employee(sales)
    first, second = customers_of(sales, sharer)[:2]
    link = share_links.share_material(sales.tenant_id, sales.material_id, sharer)
    start = int(time.time() * 1000)
    for n, customer in enumerate((first, second, first)):
        viewer = viewer_token(sales.tenant_id, customer)
        body = {"share": link["token"], "viewer": viewer, "session": f"home-view-{n}", "events": reading(start, 1)}
        assert post_beacons(sales.api, body).status_code == 202
    lead = {"share": link["token"], "session": "home-lead-1", "name": "王先生", "phone": "138 0000 0000"}
    headers = {"Content-Type": "text/plain", "Origin": PAGE_ORIGIN}
    assert sales.api.post("/t/leads", headers=headers, body=json.dumps(lead)).status_code == 202
    process()
    inbox = sales.stats()["app_messages"]["inbox"]
    card = next(m for m in inbox if m["userid"] == sharer and "留下了联系方式" in m["description"])
    page = path_of(card["url"])
    assert page.startswith("/sales/customers/")
    assert sales_links.open_link(page.rsplit("/", 1)[1], time.time()).customer == ""

    returned, _ = log_in(sales, page, sharer)
    assert (returned.status_code, returned.headers["Location"]) == (302, page)
    shown = sales.api.get(page, headers={"Cookie": session_of(returned)})
    html = shown.body.decode()
    assert shown.status_code == 200, html
    assert "<script" not in html
    names = [sales.company.book.customers[c].name for c in (first, second)]
    assert html.index(names[0]) < html.index(names[1])  # opened twice: listed first
    assert tuple(re.findall(r"近 7 天打开 \d 次", html)) == ("近 7 天打开 2 次", "近 7 天打开 1 次")
    assert "在「春季手册」留下联系方式" in html
    assert "王先生" in html
    assert "tel:138 0000 0000" in html
    href = unescape(html.split('<a href="', 1)[1].split('"', 1)[0])
    assert sales_links.open_link(href.rsplit("/", 1)[1], time.time()).customer == first
    opened = sales.api.get(path_of(href), headers={"Cookie": session_of(returned)})
    assert opened.status_code == 200
    assert names[0] in opened.body.decode()

    other = next(u for u in sorted(sales.company.employees) if u != sharer)
    returned, _ = log_in(sales, page, other)
    theirs = sales.api.get(page, headers={"Cookie": session_of(returned)}).body.decode()
    assert "近 7 天还没有客户打开您的分享" in theirs
    assert "138 0000 0000" not in theirs
