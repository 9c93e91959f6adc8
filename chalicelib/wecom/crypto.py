"""WeCom callback crypto (WXBizMsgCrypt): signature, AES-256-CBC envelope and the XML around it.

Pure: no I/O. Every failure raises a subclass of `CallbackCryptoError` carrying the code of WeCom's sample library
(-40001..-40011), so a caller can never mistake a rejected message for text. XML is parsed with defusedxml and any
DTD, entity or external reference is refused as `MalformedXml`, as is XML nested deeper than MAX_XML_DEPTH or with
more than MAX_XML_ELEMENTS elements: the parser stops at the first element over either bound, so nothing downstream
(the recursive XML serializer of an unknown event's nested fields, the queued message) meets such a tree.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import Cipher

RANDOM_PREFIX_BYTES = 16
PAD_BLOCK = 32
_AES_BLOCK = 16
# WeCom's events nest at most 4 deep (<xml><ExtAttr><Item><Text><Value>); a group's member change lists at most a few
# thousand <Item>s, and a 64 KiB envelope holds fewer elements than the bound.
MAX_XML_DEPTH = 16
MAX_XML_ELEMENTS = 4096
_ENCODING_AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")
_REPLY_TOKEN = re.compile(r"^[A-Za-z0-9]{1,64}$")
_REPLY_TEMPLATE = (
    "<xml>\n<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n<MsgSignature><![CDATA[{signature}]]></MsgSignature>\n"
    "<TimeStamp>{timestamp}</TimeStamp>\n<Nonce><![CDATA[{nonce}]]></Nonce>\n</xml>"
)


class CallbackCryptoError(Exception):
    """A callback that failed verification or decryption; `code` is the sample library's error code."""

    code = -40000


class InvalidSignature(CallbackCryptoError):
    code = -40001


class MalformedXml(CallbackCryptoError):
    code = -40002


class IllegalAesKey(CallbackCryptoError):
    code = -40004


class InvalidReceiveId(CallbackCryptoError):
    code = -40005


class AesDecryptError(CallbackCryptoError):
    code = -40007


class IllegalBuffer(CallbackCryptoError):
    code = -40008


class Base64DecodeError(CallbackCryptoError):
    code = -40010


class ReplyXmlError(CallbackCryptoError):
    code = -40011


def decode_encoding_aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key. Lenient about the last character's unused bits: WeCom's own keys set them."""
    if not isinstance(encoding_aes_key, str) or not _ENCODING_AES_KEY.fullmatch(encoding_aes_key):
        raise IllegalAesKey("EncodingAESKey must be 43 characters of [A-Za-z0-9]")
    return base64.b64decode(encoding_aes_key + "=")


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """msg_signature: lowercase hex SHA1 of the four strings sorted and concatenated."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce, encrypt))).encode()).hexdigest()  # noqa: S324


class _BoundedTreeBuilder(TreeBuilder):
    """A tree builder that refuses, as it goes, an element nested too deep or one element too many."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._elements = 0

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        self._depth += 1
        self._elements += 1
        if self._depth > MAX_XML_DEPTH:
            raise MalformedXml(f"XML nested deeper than {MAX_XML_DEPTH} elements")
        if self._elements > MAX_XML_ELEMENTS:
            raise MalformedXml(f"XML with more than {MAX_XML_ELEMENTS} elements")
        return super().start(tag, attrs)

    def end(self, tag: str) -> Element:
        self._depth -= 1
        return super().end(tag)


def parse_xml(text: str | bytes) -> Element:
    """Parse untrusted XML; a DTD, entity, external reference, not-well-formed text or a tree over MAX_XML_DEPTH or
    MAX_XML_ELEMENTS raises `MalformedXml`."""
    parser = DefusedXMLParser(target=_BoundedTreeBuilder(), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        parser.feed(text)
        return parser.close()
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedXml(type(exc).__name__) from None


class WeComCrypto:
    """Verifies, decrypts and encrypts one receiver's callbacks (receive id = corp id for a self-built app)."""

    __slots__ = ("_key", "_receive_id", "_token")

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        self._token = token
        self._key = decode_encoding_aes_key(encoding_aes_key)
        self._receive_id = receive_id.encode()

    def __repr__(self) -> str:
        return f"WeComCrypto(receive_id={self._receive_id.decode()!r})"

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The plaintext of a URL-verification GET's echostr, to be answered bare."""
        self._check_signature(msg_signature, timestamp, nonce, echostr)
        return self._decrypt(echostr)

    def decrypt_message(self, body: str | bytes, msg_signature: str, timestamp: str, nonce: str) -> str:
        """The decrypted inner XML of a POSTed envelope `<xml><Encrypt>..</Encrypt>..</xml>`."""
        encrypt = parse_xml(body).findtext("Encrypt")
        if not encrypt:
            raise MalformedXml("envelope without Encrypt")
        self._check_signature(msg_signature, timestamp, nonce, encrypt)
        return self._decrypt(encrypt)

    def encrypt_message(self, plaintext: str, timestamp: str, nonce: str, *, random_prefix: bytes | None = None) -> str:
        """The XML envelope of an encrypted reply (Encrypt, MsgSignature, TimeStamp, Nonce)."""
        if not _REPLY_TOKEN.fullmatch(timestamp) or not _REPLY_TOKEN.fullmatch(nonce):
            raise ReplyXmlError("timestamp and nonce must be alphanumeric")
        encrypt = self.encrypt(plaintext, random_prefix=random_prefix)
        return _REPLY_TEMPLATE.format(
            encrypt=encrypt,
            signature=signature(self._token, timestamp, nonce, encrypt),
            timestamp=timestamp,
            nonce=nonce,
        )

    def encrypt(self, plaintext: str, *, random_prefix: bytes | None = None) -> str:
        """Base64 of AES-CBC(random ‖ len ‖ msg ‖ receive id, PKCS#7 to 32 bytes): the Encrypt text."""
        prefix = secrets.token_bytes(RANDOM_PREFIX_BYTES) if random_prefix is None else random_prefix
        if len(prefix) != RANDOM_PREFIX_BYTES:
            raise ValueError(f"random prefix must be {RANDOM_PREFIX_BYTES} bytes")
        msg = plaintext.encode()
        buffer = prefix + struct.pack(">I", len(msg)) + msg + self._receive_id
        pad = PAD_BLOCK - len(buffer) % PAD_BLOCK
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(buffer + bytes([pad]) * pad) + encryptor.finalize()).decode()

    def _check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        expected = signature(self._token, timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected.encode(), (msg_signature or "").encode()):
            raise InvalidSignature("msg_signature mismatch")

    def _decrypt(self, encrypt: str) -> str:
        try:
            ciphertext = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise Base64DecodeError("Encrypt is not base64") from None
        if not ciphertext or len(ciphertext) % _AES_BLOCK:
            raise AesDecryptError("ciphertext is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        buffer = decryptor.update(ciphertext) + decryptor.finalize()
        pad = buffer[-1]
        if not 1 <= pad <= PAD_BLOCK or buffer[-pad:] != bytes([pad]) * pad:
            raise IllegalBuffer("bad padding")
        content = buffer[RANDOM_PREFIX_BYTES:-pad]
        if len(content) < 4:
            raise IllegalBuffer("no length field")
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise IllegalBuffer("length field exceeds the buffer")
        if not hmac.compare_digest(content[4 + length :], self._receive_id):
            raise InvalidReceiveId("receive id mismatch")
        try:
            return content[4 : 4 + length].decode()
        except UnicodeDecodeError:
            raise IllegalBuffer("message is not UTF-8") from None

    def _cipher(self) -> Cipher:
        # imported here: every function imports the app, and only the callback route decrypts (~40 ms of cold start)
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:_AES_BLOCK]))
