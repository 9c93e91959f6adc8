"""The sales view of one customer, rendered from plain data: who they are (name, avatar, remark, tags as the tenant
stores them) and what they did with the employee's shares (views with dwell, depth and actions; leads), newest first;
and the employee's own page: the customers who viewed their shares lately, and leads no customer could be named for.

Everything shown is escaped; the page has no script at all and one style sheet served by the stack, under the shared
page's Content-Security-Policy (`landing_page.HTML_HEADERS`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from chalicelib.domain.beacons import ADD_WECOM, CALL, FORWARD, LEAVE_CONTACT, OPEN_LINK
from chalicelib.domain.landing_page import html_document
from chalicelib.domain.view_alerts import CHINA_OFFSET_SECONDS

ACTION_NAMES = {
    CALL: "打电话",
    ADD_WECOM: "加企业微信",
    LEAVE_CONTACT: "留联系方式",
    OPEN_LINK: "打开链接",
    FORWARD: "转发",
}
DELETED_MATERIAL = "已删除的素材"


@dataclass(frozen=True)
class CustomerCard:
    """The customer as the tenant stores them, with the employee's own remark, description and tag names."""

    external_userid: str
    name: str = ""
    avatar: str = ""
    corp_name: str = ""
    remark: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()


def render_customer(card: CustomerCard, entries: list[dict[str, Any]], titles: Mapping[str, str], style: str) -> str:
    """The page: the customer's card, a one-line summary, and the timeline of `tracking_reports.timeline` entries
    (material titles by id from `titles`)."""
    views = [e for e in entries if e["kind"] == "view"]
    leads = len(entries) - len(views)
    dwell = sum(int(e.get("dwell_ms") or 0) for e in views)
    summary = f"浏览 {len(views)} 次 · 累计停留 {_duration(dwell)} · 线索 {leads} 条"
    lines = "".join(_entry(e, titles) for e in entries)
    timeline = f'<ol class="qr-timeline">{lines}</ol>' if lines else '<p class="qr-desc">还没有通过您的分享浏览过。</p>'
    return html_document(
        card.name or card.external_userid,
        style,
        f'<main class="qr-sales">{_card(card)}<section><h2>浏览记录</h2>'
        f'<p class="qr-summary">{escape(summary)}</p>{timeline}</section></main>',
    )


@dataclass(frozen=True)
class ViewerRow:
    """A customer who viewed the employee's shares: their name, opens in the last 7 days, their sales view's link."""

    name: str
    opens: int
    url: str


def render_home(viewers: list[ViewerRow], leads: list[dict[str, Any]], titles: Mapping[str, str], style: str) -> str:
    """The employee's own page: `viewers` (most opens first), then the anonymous `leads` as timeline entries."""
    rows = "".join(
        f'<li class="qr-view"><p><a href="{escape(v.url, quote=True)}">{escape(v.name)}</a></p>'
        f'<p class="qr-desc">近 7 天打开 {v.opens} 次</p></li>'
        for v in viewers
    )
    nobody = '<p class="qr-desc">近 7 天还没有客户打开您的分享。</p>'
    viewed = f'<ol class="qr-timeline">{rows}</ol>' if rows else nobody
    lines = "".join(_entry(e, titles) for e in leads)
    unnamed = f'<section><h2>未识别身份的线索</h2><ol class="qr-timeline">{lines}</ol></section>' if lines else ""
    return html_document(
        "我的客户动态",
        style,
        f'<main class="qr-sales"><section><h1>我的客户动态</h1><h2>近 7 天浏览过的客户</h2>{viewed}</section>'
        f"{unnamed}</main>",
    )


def render_refused(title: str, message: str, style: str) -> str:
    """A plain page saying why the employee cannot go on (and what to do), nothing more."""
    body = f"<h1>{escape(title)}</h1><p>{escape(message)}</p>"
    return html_document(title, style, f'<main class="qr-sales"><section>{body}</section></main>')


def _card(card: CustomerCard) -> str:
    avatar = (
        f'<img class="qr-avatar" src="{escape(card.avatar, quote=True)}" alt="">'
        if card.avatar.startswith("https://")
        else ""
    )
    name = escape(card.name or card.external_userid)
    remark = f'<p class="qr-desc">备注：{escape(card.remark)}</p>' if card.remark else ""
    corp = f'<p class="qr-desc">{escape(card.corp_name)}</p>' if card.corp_name else ""
    description = f"<p>{escape(card.description)}</p>" if card.description else ""
    tags = "".join(f"<li>{escape(tag)}</li>" for tag in card.tags)
    tag_list = f'<ul class="qr-tags">{tags}</ul>' if tags else ""
    return f'<section class="qr-customer">{avatar}<h1>{name}</h1>{remark}{corp}{description}{tag_list}</section>'


def _entry(entry: dict[str, Any], titles: Mapping[str, str]) -> str:
    title = escape(titles.get(str(entry.get("material_id") or ""), DELETED_MATERIAL))
    when = f'<p class="qr-when">{_when(entry.get("at"))}</p>'
    if entry["kind"] == "lead":
        phone = escape(str(entry.get("phone") or ""), quote=True)
        who = escape(str(entry.get("name") or ""))
        note = f" · {escape(str(entry['note']))}" if entry.get("note") else ""
        return (
            f'<li class="qr-lead">{when}<p>在「{title}」留下联系方式</p>'
            f'<p class="qr-desc">{who} <a href="tel:{phone}">{phone}</a>{note}</p></li>'
        )
    facts = [f"停留 {_duration(int(entry.get('dwell_ms') or 0))}", f"读到 {int(entry.get('depth') or 0)}%"]
    facts += [
        f"{ACTION_NAMES.get(name, name)} ×{count}" for name, count in sorted((entry.get("actions") or {}).items())
    ]
    facts.append("已离开" if entry.get("left") else "可能仍在看")
    return f'<li class="qr-view">{when}<p>看了「{title}」</p><p class="qr-desc">{escape(" · ".join(facts))}</p></li>'


def _when(at_ms: Any) -> str:
    if not isinstance(at_ms, int | float):
        return ""
    return time.strftime("%m-%d %H:%M", time.gmtime(at_ms / 1000 + CHINA_OFFSET_SECONDS))


def _duration(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 60} 分 {seconds % 60} 秒" if seconds >= 60 else f"{seconds} 秒"
