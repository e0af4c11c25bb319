"""Tencent's callback cryptography: the SHA-1 request signature and the AES message envelope.

The envelope is the one WeChat Official Accounts, WeCom apps and WeCom intelligent robots
share: AES-256-CBC with key = base64decode(EncodingAESKey + "="), IV = key[:16], PKCS#7
padding to 32-byte blocks, and plaintext = 16 random bytes + 4-byte big-endian length + message
+ receive id (the AppID, the corp id, or "" for an intelligent robot).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.channels.message import ChannelError

#: Tencent pads the envelope plaintext to multiples of this many bytes.
BLOCK = 32

_WHITESPACE = (b" ", b"\n", b"\r", b"\t")


def tencent_signature(*parts: str) -> str:
    """SHA-1 hex digest of the parts sorted and concatenated (token, timestamp, nonce[, data])."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def same_text(expected: str, given: str) -> bool:
    """Compare a computed signature with a received one in constant time."""
    return hmac.compare_digest(
        expected.encode("utf-8"), given.strip().lower().encode("utf-8", "replace")
    )


def check_timestamp(timestamp: str, now: Callable[[], float], max_skew: int) -> int:
    """Parse a unix-seconds timestamp and refuse it when it is too far from now."""
    if not (0 < len(timestamp) <= 12 and timestamp.isascii() and timestamp.isdigit()):
        raise ChannelError(400, "The timestamp is not a number of seconds.")
    value = int(timestamp)
    if abs(now() - value) > max_skew:
        raise ChannelError(403, "The timestamp is too far from the current time.")
    return value


def decode_aes_key(aes_key: str) -> bytes:
    """The 32-byte AES key behind a 43-character EncodingAESKey; ValueError when malformed."""
    if not isinstance(aes_key, str) or len(aes_key) != 43:
        raise ValueError("an EncodingAESKey is exactly 43 characters")
    try:
        key = base64.b64decode(aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("an EncodingAESKey must be base64 text") from exc
    if len(key) != 32:
        raise ValueError("an EncodingAESKey must decode to 32 bytes")
    return key


class Envelope:
    """Encrypts and decrypts Tencent's AES message envelope for one EncodingAESKey."""

    __slots__ = ("_cipher",)

    def __init__(self, aes_key: str) -> None:
        key = decode_aes_key(aes_key)
        self._cipher = Cipher(algorithms.AES(key), modes.CBC(key[:16]))

    def encrypt(self, msg: bytes, receive_id: str, random16: bytes | None = None) -> str:
        """Base64 ciphertext of ``msg`` addressed to ``receive_id``."""
        prefix = os.urandom(16) if random16 is None else random16
        if len(prefix) != 16:
            raise ValueError("the random prefix must be 16 bytes")
        plain = b"".join((prefix, len(msg).to_bytes(4, "big"), msg, receive_id.encode("utf-8")))
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes((pad,)) * pad
        encryptor = self._cipher.encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def open(self, text: str) -> tuple[bytes, bytes]:
        """Decrypt base64 ``text`` into (message, receive id); ChannelError 400 when damaged."""
        try:
            data = text.encode("ascii")
        except (UnicodeEncodeError, AttributeError):
            raise ChannelError(400, "The ciphertext is not base64 text.") from None
        if any(ws in data for ws in _WHITESPACE):
            data = b"".join(data.split())
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ChannelError(400, "The ciphertext is not valid base64.") from None
        if len(raw) < BLOCK or len(raw) % 16:
            raise ChannelError(400, "The ciphertext is truncated.")
        decryptor = self._cipher.decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes((pad,)) * pad:
            raise ChannelError(400, "The ciphertext has bad padding.")
        content = plain[16:-pad]
        if len(content) < 4:
            raise ChannelError(400, "The decrypted message is too short.")
        length = int.from_bytes(content[:4], "big")
        if length > len(content) - 4:
            raise ChannelError(400, "The decrypted message length is wrong.")
        return content[4 : 4 + length], content[4 + length :]

    def decrypt(self, text: str, receive_id: str) -> bytes:
        """Decrypt and check that the envelope is addressed to ``receive_id`` (403 if not)."""
        msg, found = self.open(text)
        if not hmac.compare_digest(found, receive_id.encode("utf-8")):
            raise ChannelError(403, "The message is addressed to another AppID or CorpID.")
        return msg


def nonce_key(channel: str, timestamp: str, nonce: str) -> str:
    """Names one signed request: its channel, timestamp and nonce."""
    return hashlib.sha256(f"{channel}\x1f{timestamp}\x1f{nonce}".encode()).hexdigest()


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
