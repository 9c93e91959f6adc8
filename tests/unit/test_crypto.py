"""WeComCrypto against every published sample, against wechatpy in both directions, and under hypothesis."""

from __future__ import annotations

import base64
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException

from chalicelib.wecom.crypto import (
    AesDecryptError,
    Base64DecodeError,
    CallbackCryptoError,
    IllegalAesKey,
    IllegalBuffer,
    InvalidReceiveId,
    InvalidSignature,
    MalformedXml,
    ReplyXmlError,
    WeComCrypto,
    decode_encoding_aes_key,
    parse_xml,
    signature,
)
from tests.unit import wecom_samples as samples

RECEIVER = samples.WECHATPY
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def crypto_for(receiver: samples.Receiver) -> WeComCrypto:
    return WeComCrypto(receiver.token, receiver.encoding_aes_key, receiver.receive_id)


def raw_decrypt(receiver: samples.Receiver, encrypt: str) -> bytes:
    """AES-CBC decryption done here, independently of the code under test."""
    key = base64.b64decode(receiver.encoding_aes_key + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    return decryptor.update(base64.b64decode(encrypt)) + decryptor.finalize()


def seal(receiver: samples.Receiver, buffer: bytes) -> str:
    """Encrypt an arbitrary (possibly malformed) buffer as WeCom would, for the negative tests."""
    key = base64.b64decode(receiver.encoding_aes_key + "=")
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(buffer) + encryptor.finalize()).decode()


def envelope(encrypt: str, receive_id: str = RECEIVER.receive_id) -> str:
    return f"<xml><ToUserName><![CDATA[{receive_id}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"


def decrypt_signed(encrypt: str) -> str:
    sig = signature(RECEIVER.token, "1700000000", "n1", encrypt)
    return crypto_for(RECEIVER).decrypt_message(envelope(encrypt), sig, "1700000000", "n1")


def pkcs7(buffer: bytes) -> bytes:
    pad = 32 - len(buffer) % 32
    return buffer + bytes([pad]) * pad


def plain_buffer(msg: bytes, receive_id: bytes = RECEIVER.receive_id.encode()) -> bytes:
    return b"R" * 16 + struct.pack(">I", len(msg)) + msg + receive_id


@pytest.mark.parametrize("sample", samples.URL_SAMPLES, ids=lambda s: s.receiver.receive_id)
def test_url_verification_samples(sample: samples.UrlSample) -> None:
    plaintext = crypto_for(sample.receiver).verify_url(
        sample.msg_signature, sample.timestamp, sample.nonce, sample.echostr
    )
    assert plaintext == sample.plaintext
    reference = WeChatCrypto(sample.receiver.token, sample.receiver.encoding_aes_key, sample.receiver.receive_id)
    assert plaintext == reference.check_signature(sample.msg_signature, sample.timestamp, sample.nonce, sample.echostr)


@pytest.mark.parametrize("sample", samples.POST_SAMPLES, ids=lambda s: s.receiver.receive_id)
def test_post_samples(sample: samples.PostSample) -> None:
    inner = crypto_for(sample.receiver).decrypt_message(
        sample.body, sample.msg_signature, sample.timestamp, sample.nonce
    )
    assert parse_xml(inner).findtext("Content") == sample.content
    as_bytes = crypto_for(sample.receiver).decrypt_message(
        sample.body.encode(), sample.msg_signature, sample.timestamp, sample.nonce
    )
    assert as_bytes == inner


def test_encryption_vector() -> None:
    produced = crypto_for(samples.WECHATPY).encrypt_message(
        samples.ENCRYPT_PLAINTEXT,
        samples.ENCRYPT_TIMESTAMP,
        samples.ENCRYPT_NONCE,
        random_prefix=samples.ENCRYPT_RANDOM_PREFIX,
    )
    assert produced == samples.ENCRYPT_EXPECTED
    assert "407518b7649e86ef23978113f92d27afa9296533" in produced


def _samples_as_ciphertexts() -> list[tuple[samples.Receiver, str]]:
    out = [(s.receiver, s.echostr) for s in samples.URL_SAMPLES]
    out += [(s.receiver, parse_xml(s.body).findtext("Encrypt") or "") for s in samples.POST_SAMPLES]
    return out


@pytest.mark.parametrize(("receiver", "encrypt"), _samples_as_ciphertexts())
def test_reencrypting_a_sample_with_its_own_prefix_reproduces_it(receiver: samples.Receiver, encrypt: str) -> None:
    buffer = raw_decrypt(receiver, encrypt)
    prefix = buffer[:16]
    (length,) = struct.unpack(">I", buffer[16:20])
    message = buffer[20 : 20 + length].decode()
    assert crypto_for(receiver).encrypt(message, random_prefix=prefix) == encrypt


@pytest.mark.parametrize(
    "receiver", [samples.WECHATPY, samples.OFFICIAL_PYTHON, samples.OFFICIAL_GO, samples.AILINGBOT]
)
def test_official_keys_are_non_canonical_base64_and_still_accepted(receiver: samples.Receiver) -> None:
    key = decode_encoding_aes_key(receiver.encoding_aes_key)
    assert len(key) == 32
    assert base64.b64encode(key).decode()[:43] != receiver.encoding_aes_key


@pytest.mark.parametrize("bad_key", ["", "short", "A" * 42, "A" * 44, "A" * 42 + "+", "A" * 42 + "=", "Ä" * 43])
def test_illegal_keys_are_refused(bad_key: str) -> None:
    with pytest.raises(IllegalAesKey) as caught:
        WeComCrypto("t", bad_key, "corp")
    assert caught.value.code == -40004


def test_wrong_signature_is_refused() -> None:
    sample = samples.POST_SAMPLES[0]
    crypto = crypto_for(sample.receiver)
    for sig, ts, nonce in [
        ("0" * 40, sample.timestamp, sample.nonce),
        (sample.msg_signature, str(int(sample.timestamp) + 1), sample.nonce),
        (sample.msg_signature, sample.timestamp, sample.nonce + "0"),
        ("", sample.timestamp, sample.nonce),
        ("签名", sample.timestamp, sample.nonce),
    ]:
        with pytest.raises(InvalidSignature) as caught:
            crypto.decrypt_message(sample.body, sig, ts, nonce)
        assert caught.value.code == -40001


def test_wrong_token_is_refused_for_url_verification() -> None:
    sample = samples.URL_SAMPLES[0]
    crypto = WeComCrypto("other", sample.receiver.encoding_aes_key, sample.receiver.receive_id)
    with pytest.raises(InvalidSignature):
        crypto.verify_url(sample.msg_signature, sample.timestamp, sample.nonce, sample.echostr)


def test_wrong_receive_id_is_refused() -> None:
    sample = samples.POST_SAMPLES[0]
    crypto = WeComCrypto(sample.receiver.token, sample.receiver.encoding_aes_key, "ww0000000000000000")
    with pytest.raises(InvalidReceiveId) as caught:
        crypto.decrypt_message(sample.body, sample.msg_signature, sample.timestamp, sample.nonce)
    assert caught.value.code == -40005


def test_receive_id_must_match_exactly_not_as_a_prefix() -> None:
    encrypt = seal(RECEIVER, pkcs7(plain_buffer(b"<xml/>", RECEIVER.receive_id.encode() + b"x")))
    with pytest.raises(InvalidReceiveId):
        decrypt_signed(encrypt)


@pytest.mark.parametrize(
    ("encrypt", "error", "code"),
    [
        ("not base64!", Base64DecodeError, -40010),
        ("QUJD", AesDecryptError, -40007),
        ("", MalformedXml, -40002),
    ],
)
def test_undecodable_ciphertexts_are_refused(encrypt: str, error: type[CallbackCryptoError], code: int) -> None:
    with pytest.raises(error) as caught:
        decrypt_signed(encrypt)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "buffer",
    [
        plain_buffer(b"<xml/>") + b"\x00" * (32 - len(plain_buffer(b"<xml/>")) % 32),
        plain_buffer(b"<xml/>") + bytes([33]) * (32 - len(plain_buffer(b"<xml/>")) % 32),
        pkcs7(plain_buffer(b"<xml/>"))[:-2] + b"\x01\x02",
        pkcs7(b"R" * 16 + b"\x00\x00"),
        pkcs7(b"R" * 16 + struct.pack(">I", 10_000) + b"<xml/>" + RECEIVER.receive_id.encode()),
        pkcs7(plain_buffer(b"\xff\xfe<xml/>")),
    ],
    ids=["zero-pad", "pad-over-32", "inconsistent-pad", "no-length", "length-too-long", "not-utf8"],
)
def test_illegal_buffers_are_refused(buffer: bytes) -> None:
    with pytest.raises(IllegalBuffer) as caught:
        decrypt_signed(seal(RECEIVER, buffer))
    assert caught.value.code == -40008


def test_a_correct_buffer_built_by_hand_decrypts() -> None:
    assert decrypt_signed(seal(RECEIVER, pkcs7(plain_buffer("<xml>企业</xml>".encode())))) == "<xml>企业</xml>"


@pytest.mark.parametrize(
    "body",
    [
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "b">]><xml><Encrypt>&a;</Encrypt></xml>',
        '<!DOCTYPE xml SYSTEM "http://127.0.0.1/x.dtd"><xml><Encrypt>QUJD</Encrypt></xml>',
        '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Encrypt>&x;</Encrypt></xml>',
        '<!DOCTYPE xml [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><xml><Encrypt>&b;</Encrypt></xml>',
        "<xml><Encrypt>QUJD</Encrypt>",
        "not xml at all",
        "",
        "<xml><ToUserName>x</ToUserName></xml>",
        "<xml><Encrypt></Encrypt></xml>",
    ],
    ids=[
        "internal-entity",
        "external-dtd",
        "external-entity",
        "entity-expansion",
        "unclosed",
        "text",
        "empty",
        "no-encrypt",
        "empty-encrypt",
    ],
)
def test_malformed_envelopes_are_refused(body: str) -> None:
    with pytest.raises(MalformedXml) as caught:
        crypto_for(RECEIVER).decrypt_message(body, "0" * 40, "1700000000", "n1")
    assert caught.value.code == -40002


def test_reply_timestamp_and_nonce_cannot_break_out_of_the_template() -> None:
    with pytest.raises(ReplyXmlError):
        crypto_for(RECEIVER).encrypt_message("<xml/>", "1", "]]><x>")


def test_random_prefix_must_be_16_bytes() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        crypto_for(RECEIVER).encrypt("x", random_prefix=b"short")


def test_repr_shows_no_secret() -> None:
    shown = repr(crypto_for(RECEIVER))
    assert RECEIVER.token not in shown
    assert RECEIVER.encoding_aes_key not in shown


@settings(max_examples=150, deadline=None)
@given(text=st.text(), prefix=st.binary(min_size=16, max_size=16))
def test_round_trip_any_text(text: str, prefix: bytes) -> None:
    crypto = crypto_for(RECEIVER)
    reply = crypto.encrypt_message(text, "1700000000", "nonce1", random_prefix=prefix)
    root = parse_xml(reply)
    assert crypto.decrypt_message(reply, root.findtext("MsgSignature") or "", "1700000000", "nonce1") == text


@settings(max_examples=100, deadline=None)
@given(text=st.text(min_size=1))
def test_wechatpy_decrypts_what_we_encrypt(text: str) -> None:
    reply = crypto_for(RECEIVER).encrypt_message(text, "1700000000", "nonce1")
    sig = parse_xml(reply).findtext("MsgSignature")
    reference = WeChatCrypto(RECEIVER.token, RECEIVER.encoding_aes_key, RECEIVER.receive_id)
    assert reference.decrypt_message(reply, sig, "1700000000", "nonce1") == text


@settings(max_examples=100, deadline=None)
@given(text=st.text(min_size=1))
def test_we_decrypt_what_wechatpy_encrypts(text: str) -> None:
    reference = WeChatCrypto(RECEIVER.token, RECEIVER.encoding_aes_key, RECEIVER.receive_id)
    reply = reference.encrypt_message(text, "nonce1", "1700000000")
    sig = parse_xml(reply).findtext("MsgSignature") or ""
    assert crypto_for(RECEIVER).decrypt_message(reply, sig, "1700000000", "nonce1") == text


def test_wechatpy_rejects_what_we_reject() -> None:
    sample = samples.POST_SAMPLES[0]
    reference = WeChatCrypto(sample.receiver.token, sample.receiver.encoding_aes_key, sample.receiver.receive_id)
    with pytest.raises(InvalidSignatureException):
        reference.decrypt_message(sample.body, "0" * 40, sample.timestamp, sample.nonce)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_tampered_character_is_refused(data: st.DataObject) -> None:
    sample = samples.POST_SAMPLES[1]
    crypto = crypto_for(sample.receiver)
    encrypt = parse_xml(sample.body).findtext("Encrypt") or ""
    fields = {
        "encrypt": encrypt,
        "signature": sample.msg_signature,
        "timestamp": sample.timestamp,
        "nonce": sample.nonce,
    }
    name = data.draw(st.sampled_from(sorted(fields)))
    value = fields[name]
    position = data.draw(st.integers(min_value=0, max_value=len(value) - 1))
    replacement = data.draw(st.sampled_from(B64_ALPHABET).filter(lambda c: c != value[position]))
    fields[name] = value[:position] + replacement + value[position + 1 :]
    with pytest.raises(CallbackCryptoError):
        crypto.decrypt_message(
            envelope(fields["encrypt"], sample.receiver.receive_id),
            fields["signature"],
            fields["timestamp"],
            fields["nonce"],
        )
