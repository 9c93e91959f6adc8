"""The shared page's HTML, rendered from plain data: the material, the sharer's card, the actions, the privacy notice.

Everything the tenant wrote is escaped; an article's rich text is sanitised with nh3 (Ammonia) to a short list of
tags and attributes, https links and images only, so a pasted `<script>`, event handler or `javascript:` URL never
reaches a viewer. The page carries no inline script or style: its behaviour (beacons, actions, the contact form) is
one script and one style sheet served by the stack, and `CONTENT_SECURITY_POLICY` allows nothing else, so a third
party's script cannot run on it even if it got in. The page's settings travel in `data-` attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import nh3

ARTICLE, IMAGE, LINK, MINIPROGRAM, VIDEO, FILE = "article", "image", "link", "miniprogram", "video", "file"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; media-src https:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HTML_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
}
ARTICLE_TAGS = frozenset(
    {"p", "br", "h2", "h3", "h4", "strong", "em", "b", "i", "u", "s", "ul", "ol", "li", "blockquote", "a", "img"}
    | {"span", "figure", "figcaption", "hr", "table", "thead", "tbody", "tr", "th", "td"}
)
ARTICLE_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}}


def sanitise_article(body: str) -> str:
    """An article's rich text reduced to safe markup: allowed tags and attributes, https URLs, links that open
    without a referrer."""
    return nh3.clean(
        body,
        tags=set(ARTICLE_TAGS),
        attributes={tag: set(names) for tag, names in ARTICLE_ATTRIBUTES.items()},
        url_schemes={"https"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


@dataclass(frozen=True)
class PageMaterial:
    """What the page shows of one material (the material library's fields, plain)."""

    kind: str
    title: str
    desc: str = ""
    url: str = ""
    picurl: str = ""
    source_url: str = ""
    appid: str = ""
    page: str = ""
    body: str = ""


@dataclass(frozen=True)
class SharerCard:
    """The employee who shared the page: name, title, avatar, phone and 「联系我」 QR code when known."""

    name: str
    title: str = ""
    avatar: str = ""
    phone: str = ""
    contact_qr: str = ""


@dataclass(frozen=True)
class PageContext:
    """Where the page's script sends what, and who the viewer is: `viewer_token` is empty for an anonymous view;
    `consent_choice` offers the viewer the other choice (inside WeChat, for a tenant with an official account)."""

    share_token: str
    viewer_token: str
    script: str
    style: str
    beacons: str
    leads: str
    consent_url: str
    company: str
    heartbeat_ms: int
    consent_choice: bool


def _attr(value: str) -> str:
    return escape(value, quote=True)


def render_page(material: PageMaterial, card: SharerCard, context: PageContext) -> str:
    """The landing page: material, sharer's card, actions, contact form, privacy notice."""
    return html_document(
        material.title,
        context.style,
        f'<main id="qr-page" data-share="{_attr(context.share_token)}" data-viewer="{_attr(context.viewer_token)}" '
        f'data-beacons="{_attr(context.beacons)}" data-leads="{_attr(context.leads)}" '
        f'data-heartbeat-ms="{context.heartbeat_ms}">'
        f"{_material(material)}{_card(card)}{_contact_form()}{_notice(context)}</main>"
        f'<script src="{_attr(context.script)}"></script>',
    )


def render_consent_question(title: str, company: str, style: str, consent_url: str) -> str:
    """Inside WeChat, before any identifying step: what is recorded and why, and the two choices (plain links)."""
    return html_document(
        title,
        style,
        '<main class="qr-consent"><h1>个人信息说明</h1>'
        f"<p>{escape(company)} 会记录您是否打开「{escape(title)}」、阅读时长、阅读进度和您点击的按钮，"
        "用于让分享给您的顾问了解内容是否对您有帮助，并及时为您服务。</p>"
        "<p>同意后，我们会通过微信识别您的身份，将浏览记录与您在企业微信中的联系人关联；"
        "不同意时，我们只做匿名统计，不识别您是谁。您可以随时在页面底部更改选择。</p>"
        f'<p class="qr-choices"><a class="qr-button" href="{_attr(consent_url)}1">同意并继续</a>'
        f'<a class="qr-button qr-secondary" href="{_attr(consent_url)}0">不同意，匿名浏览</a></p></main>',
    )


def render_not_found() -> str:
    """The answer to a forged, altered, expired or unknown link: says nothing about why."""
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>页面不存在</title></head>'
        "<body><h1>页面不存在</h1><p>链接无效或已过期。</p></body></html>"
    )


def html_document(title: str, style: str, body: str) -> str:
    """A mobile page in Chinese with one stylesheet: the frame of every page the stack serves."""
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="{_attr(style)}"></head><body>{body}</body></html>'
    )


def _material(m: PageMaterial) -> str:
    title = f"<h1>{escape(m.title)}</h1>"
    desc = f'<p class="qr-desc">{escape(m.desc)}</p>' if m.desc else ""
    if m.kind == ARTICLE:
        cover = f'<img class="qr-cover" src="{_attr(m.picurl)}" alt="">' if m.picurl else ""
        inner = f'{cover}{title}{desc}<div class="qr-article">{sanitise_article(m.body)}</div>'
    elif m.kind == IMAGE:
        inner = f'{title}<img class="qr-poster" src="{_attr(m.source_url)}" alt="{_attr(m.title)}">{desc}'
    elif m.kind == VIDEO:
        video = f'<video class="qr-poster" controls preload="metadata" src="{_attr(m.source_url)}"></video>'
        inner = f"{title}{video}{desc}"
    elif m.kind == FILE:
        inner = (
            f'{title}{desc}<p><a class="qr-button" data-action="open_link" href="{_attr(m.source_url)}" '
            'rel="noopener noreferrer">打开文件 (PDF)</a></p>'
        )
    elif m.kind == LINK:
        cover = f'<img class="qr-cover" src="{_attr(m.picurl)}" alt="">' if m.picurl else ""
        inner = (
            f'{cover}{title}{desc}<p class="qr-url">{escape(m.url)}</p><p><a class="qr-button" data-action="open_link" '
            f'href="{_attr(m.url)}" rel="noopener noreferrer">继续阅读</a></p>'
        )
    elif m.kind == MINIPROGRAM:
        inner = (
            f'<div class="qr-mp-card"><span class="qr-mp-label">小程序</span>{title}'
            f'<img class="qr-cover" src="{_attr(m.source_url)}" alt="">'
            f'<p class="qr-desc">在微信中搜索或长按识别打开小程序 ({escape(m.appid)})</p></div>'
        )
    else:
        inner = f"{title}{desc}"
    return f'<section class="qr-material qr-{_attr(m.kind)}">{inner}</section>'


def _card(card: SharerCard) -> str:
    avatar = f'<img class="qr-avatar" src="{_attr(card.avatar)}" alt="">' if card.avatar else ""
    title = f'<p class="qr-title">{escape(card.title)}</p>' if card.title else ""
    call = f'<a class="qr-button" data-action="call" href="tel:{_attr(card.phone)}">打电话</a>' if card.phone else ""
    qr = (
        f'<img class="qr-contact-qr" src="{_attr(card.contact_qr)}" alt="企业微信二维码">'
        if card.contact_qr
        else '<p class="qr-desc">请联系分享人添加企业微信。</p>'
    )
    return (
        f'<section class="qr-card">{avatar}<div><p class="qr-name">{escape(card.name)}</p>{title}</div>'
        f'<p class="qr-actions">{call}<button type="button" class="qr-button" data-action="add_wecom" '
        'data-reveals="qr-add-wecom">加我企业微信</button><button type="button" class="qr-button" '
        'data-action="leave_contact" data-reveals="qr-contact">留下联系方式</button></p>'
        f'<div id="qr-add-wecom" hidden>{qr}<p class="qr-desc">长按识别二维码添加</p></div></section>'
    )


def _contact_form() -> str:
    return (
        '<form id="qr-contact" class="qr-form" hidden><label>称呼 <input name="name" required maxlength="32"></label>'
        '<label>手机 <input name="phone" type="tel" required pattern="[0-9+ -]{5,20}"></label>'
        '<label>留言 <textarea name="note" maxlength="200"></textarea></label>'
        '<button type="submit" class="qr-button">提交</button><p class="qr-form-status" role="status"></p></form>'
    )


def _notice(context: PageContext) -> str:
    identified = bool(context.viewer_token)
    who = (
        "您已同意通过微信识别身份，浏览记录会关联到您的联系人信息。"
        if identified
        else "本次浏览为匿名统计，不识别您的身份。"
    )
    choice = ""
    if context.consent_choice:
        url = _attr(context.consent_url)
        choice = f'<a href="{url}0">撤回同意，改为匿名</a>' if identified else f'<a href="{url}1">同意识别身份</a>'
    return (
        f'<footer class="qr-notice"><p>隐私说明：{escape(context.company)} '
        "记录您打开本页、阅读时长、阅读进度和点击的按钮，用于让分享人了解内容是否对您有帮助并及时跟进；"
        f"原始记录按约定期限删除。{who}</p><p>{choice}</p></footer>"
    )
