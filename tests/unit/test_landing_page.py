"""The shared page's HTML: escaped tenant text, sanitised articles, no inline script or style, a strict CSP."""

from __future__ import annotations

import re

from chalicelib.domain import landing_page
from chalicelib.domain.landing_page import PageContext, PageMaterial, SharerCard

CONTEXT = PageContext(
    share_token="s.1.abcd.0123456789abcdefghijkl",
    viewer_token="",
    script="/page-assets/page.0123456789ab.js",
    style="/page-assets/page.0123456789ab.css",
    beacons="/t/beacons",
    leads="/t/leads",
    consent_url="/s/s.1.abcd.0123456789abcdefghijkl/consent?choice=",
    company="示例公司",
    heartbeat_ms=5000,
    consent_choice=True,
)


def no_inline_code(html: str) -> None:
    assert all('src="' in tag for tag in re.findall(r"<script[^>]*>", html))
    assert re.search(r"<script[^>]*>[^<]+</script>", html) is None
    assert re.search(r"\son[a-z]+\s*=", html) is None
    assert " style=" not in html
    assert "javascript:" not in html


def test_an_article_is_sanitised_and_the_page_has_no_inline_code():
    body = (
        '<h2>标题</h2><p onclick="steal()">正文<script>alert(1)</script></p><a href="javascript:alert(1)">x</a>'
        '<img src="http://insecure.example.com/a.png"><img src="https://cdn.example.com/b.png" onerror="x()">'
        '<iframe src="https://evil.example.com"></iframe><p style="color:red">red</p>'
    )
    html = landing_page.render_page(
        PageMaterial(kind="article", title="新品<b>", body=body), SharerCard(name="张三"), CONTEXT
    )
    no_inline_code(html)
    assert "<h2>标题</h2>" in html
    assert "新品&lt;b&gt;" in html
    assert "alert" not in html
    assert "<iframe" not in html
    assert 'src="https://cdn.example.com/b.png"' in html
    assert "insecure.example.com" not in html
    assert 'src="/page-assets/page.0123456789ab.js"' in html


def test_each_material_kind_renders_and_tenant_text_is_escaped():
    card = SharerCard(name='王"五', title="顾问", phone="13800000000", contact_qr="https://wework.qpic.cn/qr.png")
    kinds = [
        PageMaterial(kind="image", title="海报", source_url="https://cdn.example.com/p.png"),
        PageMaterial(kind="file", title="手册", source_url="https://cdn.example.com/a.pdf"),
        PageMaterial(kind="link", title="活动", url="https://shop.example.com/x?a=1&b=2"),
        PageMaterial(kind="miniprogram", title="小程序", source_url="https://cdn.example.com/c.png", appid="wx1"),
        PageMaterial(kind="video", title="视频", source_url="https://cdn.example.com/v.mp4"),
    ]
    for material in kinds:
        html = landing_page.render_page(material, card, CONTEXT)
        no_inline_code(html)
        assert f"qr-{material.kind}" in html
    link = landing_page.render_page(kinds[2], card, CONTEXT)
    assert 'href="https://shop.example.com/x?a=1&amp;b=2"' in link
    assert 'data-action="open_link"' in link
    assert 'href="tel:13800000000"' in link
    assert "王&quot;五" in link
    assert "https://wework.qpic.cn/qr.png" in link


def test_the_notice_offers_the_other_consent_choice():
    anonymous = landing_page.render_page(
        PageMaterial(kind="link", title="t", url="https://a.example.com"), SharerCard(name="x"), CONTEXT
    )
    assert "匿名统计" in anonymous
    assert f'href="{CONTEXT.consent_url}1"' in anonymous
    identified = landing_page.render_page(
        PageMaterial(kind="link", title="t", url="https://a.example.com"),
        SharerCard(name="x"),
        PageContext(**{**CONTEXT.__dict__, "viewer_token": "v.1.abcd.0123456789abcdefghijkl"}),
    )
    assert f'href="{CONTEXT.consent_url}0"' in identified
    assert 'data-viewer="v.1.abcd.0123456789abcdefghijkl"' in identified


def test_the_csp_allows_only_the_stacks_own_script_and_no_inline_code():
    policy = landing_page.CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "unsafe" not in policy
    assert "frame-ancestors 'none'" in policy
    no_inline_code(landing_page.render_not_found())
    no_inline_code(landing_page.render_consent_question("t", "c", "/a.css", "/s/x/consent?choice="))
