"""Callback event XML as WeCom sends it, and its encrypted, signed envelope (wechatpy's enterprise crypto)."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from defusedxml import ElementTree
from wechatpy.enterprise.crypto import WeChatCrypto

from .company import Company

Field = tuple[str, str | int | list[str]]


def event_xml(corpid: str, create_time: int, event: str, change_type: str, fields: list[Field]) -> str:
    """The plaintext event: common envelope (ToUserName, FromUserName sys, CreateTime, MsgType event) plus fields."""
    parts = [
        f"<ToUserName><![CDATA[{corpid}]]></ToUserName>",
        "<FromUserName><![CDATA[sys]]></FromUserName>",
        f"<CreateTime>{create_time}</CreateTime>",
        "<MsgType><![CDATA[event]]></MsgType>",
        f"<Event><![CDATA[{event}]]></Event>",
        f"<ChangeType><![CDATA[{change_type}]]></ChangeType>",
    ]
    for name, value in fields:
        if isinstance(value, int):
            parts.append(f"<{name}>{value}</{name}>")
        elif isinstance(value, list):
            items = "".join(f"<Item><![CDATA[{item}]]></Item>" for item in value)
            parts.append(f"<{name}>{items}</{name}>")
        else:
            parts.append(f"<{name}><![CDATA[{value}]]></{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def sealed(company: Company, plaintext: str, timestamp: int, agent_id: str = "") -> tuple[str, bytes]:
    """Encrypt and sign ``plaintext`` for ``company``: the query string and the POST body WeCom would send.

    ``agent_id`` is empty for customer-contact events and the app's id for address-book events."""
    nonce = str(secrets.randbelow(10**10))
    crypto = WeChatCrypto(company.token, company.aes_key, company.corpid)
    reply = ElementTree.fromstring(crypto.encrypt_message(plaintext, nonce, str(timestamp)))
    encrypt = reply.findtext("Encrypt")
    signature = reply.findtext("MsgSignature")
    body = (
        f"<xml><ToUserName><![CDATA[{company.corpid}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>"
        f"<AgentID><![CDATA[{agent_id}]]></AgentID></xml>"
    )
    query = urlencode({"msg_signature": signature, "timestamp": str(timestamp), "nonce": nonce})
    return query, body.encode()
