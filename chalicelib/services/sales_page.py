"""The sales view of one customer (`GET /sales/customers/<token>`), the page an alert card opens inside WeCom.

The link names the tenant and customer (`sales_links`); the employee comes from their session or, lacking one, from
WeCom's web OAuth (`staff_oauth`). Only an employee who follows the customer, or the sharer the link was made for,
sees the page; to anyone else, as to a bad link, it is the shared pages' plain 404. The page shows the customer as
stored (profile, the employee's remark, description and tags) and the timeline of the employee's own shares.
A link naming no customer (a digest's, an anonymous lead's) opens the employee's own page: the customers who viewed
their shares in the last 7 days, each opening its sales view, and the leads left by readers no one could name. It
shows the signed-in employee's own figures, whoever the card was for.
"""

from __future__ import annotations

from chalicelib.domain import customer_page, sales_access
from chalicelib.domain.customer_page import CustomerCard
from chalicelib.domain.landing_page import HTML_HEADERS
from chalicelib.services import sales_links, share_page, staff_oauth, tracking_reports
from chalicelib.services.share_page import HtmlAnswer
from chalicelib.store.customer_directory import CustomerDirectory
from chalicelib.store.customers import CustomerStore
from chalicelib.store.materials import MaterialStore
from chalicelib.store.relations import FollowRelation
from chalicelib.store.tracking import UnknownSubject

HOME_CUSTOMERS = 30
"""Customers listed on an employee's own page, most opens first."""


def open_page(token: str, cookie_header: str | None, now: float) -> HtmlAnswer:
    """The page, the redirect into WeCom's OAuth, or the plain 404."""
    link = sales_links.open_link(token, now)
    if link is None:
        return share_page.not_found()
    userid = staff_oauth.session_of(cookie_header, link.tenant_id, now)
    if not userid:
        return staff_oauth.authorize(link, token, now)
    if not link.customer:
        return home_page(link.tenant_id, userid, now)
    store = CustomerStore(link.tenant_id)
    relations = [r for r in store.get_follows(link.customer) if r.active]
    if not sales_access.may_see(userid, link.sharer, (r.userid for r in relations)):
        return share_page.not_found()
    card = customer_card(store, link.customer, next((r for r in relations if r.userid == userid), None))
    try:
        entries = tracking_reports.timeline(link.tenant_id, link.customer, userid)
    except UnknownSubject:
        entries = []
    titles = material_titles(link.tenant_id, entries)
    body = customer_page.render_customer(card, entries, titles, staff_oauth.style_url())
    return HtmlAnswer(200, body, dict(HTML_HEADERS))


def home_page(tenant_id: str, userid: str, now: float) -> HtmlAnswer:
    """The employee's own page: who viewed their shares lately (with a signed link to each one's view) and their
    anonymous leads."""
    viewers = tracking_reports.recent_viewers(tenant_id, userid, now)[:HOME_CUSTOMERS]
    names = CustomerDirectory(tenant_id).names(v["customer_id"] for v in viewers)
    rows = [
        customer_page.ViewerRow(
            names.get(v["customer_id"]) or v["customer_id"],
            v["opens"],
            sales_links.customer_url(tenant_id, v["customer_id"], userid),
        )
        for v in viewers
    ]
    leads = tracking_reports.anonymous_leads(tenant_id, userid)
    body = customer_page.render_home(rows, leads, material_titles(tenant_id, leads), staff_oauth.style_url())
    return HtmlAnswer(200, body, dict(HTML_HEADERS))


def material_titles(tenant_id: str, entries: list[dict]) -> dict[str, str]:
    """The titles of the materials timeline entries name (a deleted material has none)."""
    materials = MaterialStore(tenant_id)
    titles = {}
    for material_id in {str(e.get("material_id") or "") for e in entries} - {""}:
        material = materials.get(material_id)
        if material is not None:
            titles[material_id] = material.title
    return titles


def customer_card(store: CustomerStore, customer: str, own: FollowRelation | None) -> CustomerCard:
    """The customer's profile with the employee's own remark, description and tag names (when they follow them)."""
    profile = store.get_profile(customer)
    tags: tuple[str, ...] = ()
    if own is not None and own.tag_ids:
        names = {t.tag_id: t.name for t in store.list_tags()}
        tags = tuple(sorted(names[t] for t in own.tag_ids if t in names))
    return CustomerCard(
        external_userid=customer,
        name=profile.name if profile else "",
        avatar=profile.avatar if profile else "",
        corp_name=profile.corp_name if profile else "",
        remark=own.remark if own else "",
        description=own.description if own else "",
        tags=tags,
    )
