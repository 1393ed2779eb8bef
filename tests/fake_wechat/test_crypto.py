"""Our independent crypto against wechatpy's, in both directions."""

from __future__ import annotations

import pytest
from wechatpy.crypto import WeChatCrypto

from tools.fake_wechat.crypto import CryptoError, MessageCrypto, pkcs7_pad, pkcs7_unpad, sha1_signature

TOKEN, APP_ID, AES_KEY = "tok", "wxdemo0000000oa", "Mg07ILBZw2Jjxrzew1UcCaqrI559N3rxGSWq5L3Ozic"


def test_padding_is_to_32_bytes() -> None:
    for n in (0, 1, 31, 32, 33):
        padded = pkcs7_pad(b"x" * n)
        assert len(padded) % 32 == 0 and len(padded) > n and pkcs7_unpad(padded) == b"x" * n


def test_wechatpy_decrypts_ours_and_we_decrypt_wechatpys() -> None:
    ours = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    theirs = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    xml = "<xml><Content><![CDATA[工会]]></Content></xml>"
    encrypted = ours.encrypt(xml.encode())
    signature = sha1_signature(TOKEN, "1", "2", encrypted)
    assert theirs.decrypt_message({"Encrypt": encrypted}, signature, "1", "2") == xml
    wrapped = theirs.encrypt_message(xml, "2", "1")
    encrypt = wrapped.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    assert ours.decrypt(encrypt) == xml.encode()
    assert ours.signature("1", "2", encrypt) in wrapped


def test_wrong_appid_and_garbage_are_rejected() -> None:
    encrypted = MessageCrypto(TOKEN, AES_KEY, "wxother").encrypt(b"hello")
    with pytest.raises(CryptoError, match="appid"):
        MessageCrypto(TOKEN, AES_KEY, APP_ID).decrypt(encrypted)
    with pytest.raises(CryptoError):
        MessageCrypto(TOKEN, AES_KEY, APP_ID).decrypt("not base64!")
    with pytest.raises(CryptoError):
        MessageCrypto(TOKEN, "short", APP_ID)
