import pytest

from chalicelib.config import get_settings
from chalicelib.domain.customer_page import CustomerCard, ViewerRow, render_customer, render_home, render_refused
from chalicelib.domain.sales_access import may_see, session_cookie
from chalicelib.wecom.member_oauth import authorize_url

AT_MS = 1_800_000_000_000
ENTRIES = [
    {
        "kind": "lead",
        "at": AT_MS + 60_000,
        "material_id": "m1",
        "name": "<b>王</b>",
        "phone": "138 0000",
        "note": "要报价",
    },
    {
        "kind": "view",
        "at": AT_MS,
        "material_id": "m1",
        "dwell_ms": 125_000,
        "depth": 70,
        "actions": {"call": 1, "forward": 2},
        "left": True,
    },
    {"kind": "view", "at": AT_MS, "material_id": "gone", "dwell_ms": 4000, "depth": 0, "actions": {}, "left": False},
]


def test_the_page_shows_the_customer_and_timeline_escaped_with_no_script() -> None:
    card = CustomerCard(
        "wmX", name="<script>x()</script>", avatar="javascript:alert(1)", remark="老客户", tags=("VIP",)
    )
    html = render_customer(card, ENTRIES, {"m1": "手册 <i>"}, "/page-assets/sales.0123456789ab.css")
    assert "<script" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html
    assert "javascript:" not in html
    assert "备注：老客户" in html
    assert "<li>VIP</li>" in html
    assert "浏览 2 次 · 累计停留 2 分 9 秒 · 线索 1 条" in html
    assert "看了「手册 &lt;i&gt;」" in html
    assert "停留 2 分 5 秒 · 读到 70% · 打电话 ×1 · 转发 ×2 · 已离开" in html
    assert "看了「已删除的素材」" in html
    assert '&lt;b&gt;王&lt;/b&gt; <a href="tel:138 0000">138 0000</a> · 要报价' in html
    assert "01-15 16:00" in html  # China time


def test_an_empty_timeline_and_a_refusal_are_plain() -> None:
    html = render_customer(CustomerCard("wmX"), [], {}, "/s.css")
    assert "<h1>wmX</h1>" in html
    assert "还没有通过您的分享浏览过" in html
    refused = render_refused("仅限企业员工", "<x>", "/s.css")
    assert "&lt;x&gt;" in refused


def test_who_may_see_a_customer() -> None:
    assert may_see("zhang", "li", ["wang", "zhang"])
    assert may_see("li", "li", [])
    assert not may_see("zhang", "li", ["wang"])
    assert not may_see("", "", [""])
    assert session_cookie("my-corp") == "qr_sales_my_corp"


def test_the_authorize_url_is_wecoms_for_members_with_a_plain_state() -> None:
    settings = get_settings({"WECHAT_OPEN_BASE_URL": "https://open.weixin.qq.com"})
    url = authorize_url(settings, "wwcorp", 1000002, "https://x.example.com/sales/customers/t/oauth", "abc123")
    assert url == (
        "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wwcorp&redirect_uri=https%3A%2F%2Fx.example.com"
        "%2Fsales%2Fcustomers%2Ft%2Foauth&response_type=code&scope=snsapi_base&state=abc123&agentid=1000002"
        "#wechat_redirect"
    )
    with pytest.raises(ValueError, match="letters and digits"):
        authorize_url(settings, "wwcorp", 1000002, "https://x.example.com/", "a.b")


def test_the_employees_own_page_lists_viewers_as_links_and_leads_escaped() -> None:
    viewers = [ViewerRow("<b>李</b>", 3, 'https://x.example/sales/customers/a"b'), ViewerRow("赵", 1, "https://x/c")]
    html = render_home(viewers, ENTRIES[:1], {"m1": "手册"}, "/page-assets/sales.0123456789ab.css")
    assert "<script" not in html
    assert '<a href="https://x.example/sales/customers/a&quot;b">&lt;b&gt;李&lt;/b&gt;</a>' in html
    assert html.index("近 7 天打开 3 次") < html.index("近 7 天打开 1 次")
    assert "未识别身份的线索" in html
    assert "&lt;b&gt;王&lt;/b&gt;" in html
    empty = render_home([], [], {}, "/s.css")
    assert "近 7 天还没有客户打开您的分享" in empty
    assert "未识别身份的线索" not in empty
