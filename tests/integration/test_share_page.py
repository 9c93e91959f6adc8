"""The shared page on moto: an article sanitised under a strict CSP, the sharer's card, the served script, and the
same plain 404 page for every bad link (forged, altered, expired, another tenant's, a deleted material)."""

from __future__ import annotations

import time

from chalicelib.domain import signed_tokens
from chalicelib.domain.signed_tokens import ShareClaims
from chalicelib.services import share_links, share_page

ARTICLE = {
    "type": "article",
    "title": "秋季新品",
    "body": '<h2>礼盒</h2><p>限时<script>alert(1)</script><img src="https://cdn.example.com/a.png" onerror="x()"></p>',
}


def test_an_article_page_is_sanitised_strict_and_bad_links_are_a_plain_404(sim_tenant_factory):
    share_links._rings.forget()
    share_page._cards.forget()
    tenant = sim_tenant_factory("page-corp", customers=10, employees=3)
    created = tenant.admin("POST", "/v1/materials", ARTICLE)
    assert created.status_code == 201, created.body
    material_id = created.json_body["material"]["material_id"]
    token, _ = share_links.create_share(tenant.tenant_id, material_id, "emp00001")

    page = tenant.api.get(f"/s/{token}", headers={"User-Agent": "Mozilla/5.0"})
    html = page.body.decode()
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'; script-src 'self';")
    assert "<h2>礼盒</h2>" in html
    assert "alert(1)" not in html
    assert "onerror" not in html
    assert tenant.company.employees["emp00001"].name in html
    script = html.split('<script src="', 1)[1].split('"', 1)[0]
    served = tenant.api.get(script)
    assert served.status_code == 200
    assert served.headers["Content-Type"].startswith("text/javascript")
    assert "sendBeacon" in served.body.decode()

    other_tenant = sim_tenant_factory("other-corp", customers=5, employees=2)
    others, _ = share_links.create_share(other_tenant.tenant_id, material_id, "emp00001")
    now = int(time.time())
    bad = [
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        signed_tokens.sign(ShareClaims("page-corp", material_id, "emp00001", "", now), {1: b"k" * 32}),
        signed_tokens.sign(
            ShareClaims("page-corp", material_id, "emp00001", "", now - signed_tokens.SHARE_LIFETIME_SECONDS - 60),
            share_links.share_keys_of("page-corp"),
        ),
        others,
        "not-a-token",
    ]
    for link in bad:
        answer = tenant.api.get(f"/s/{link}")
        assert answer.status_code == 404, link
        assert answer.headers["Content-Type"].startswith("text/html")
        assert "页面不存在" in answer.body.decode()
    assert tenant.admin("DELETE", f"/v1/materials/{material_id}").status_code in (200, 204)
    assert tenant.api.get(f"/s/{token}").status_code == 404
