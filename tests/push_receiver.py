"""A push service of our own for the tests: records what the inbox POSTs and decrypts it.

It answers like a real push service (201 Created; 410 Gone for a subscription marked dead). The
decryption is written here from RFC 8291 / RFC 8188 with ``cryptography`` alone, independently of the
library that encrypted it, and the VAPID header (RFC 8292) is verified against the tenant's key.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import FastAPI, Request, Response


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class BrowserKeys:
    """What a browser makes when it subscribes: a P-256 key pair and a 16-byte auth secret."""

    private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def subscription(self, endpoint: str) -> dict[str, Any]:
        return {"endpoint": endpoint, "keys": {"p256dh": b64url(self.public_raw), "auth": b64url(self.auth)}}


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def decrypt_aes128gcm(body: bytes, keys: BrowserKeys) -> bytes:
    """RFC 8291 §3.4 and RFC 8188 §2: one record, as Web Push sends."""
    salt, record_size, id_len = body[:16], struct.unpack(">I", body[16:20])[0], body[20]
    sender_public = body[21 : 21 + id_len]
    ciphertext = body[21 + id_len :]
    assert id_len == 65
    assert len(ciphertext) <= record_size
    sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_public)
    shared = keys.private.exchange(ec.ECDH(), sender)
    key_info = b"WebPush: info\x00" + keys.public_raw + sender_public
    ikm = _hkdf(keys.auth, shared, key_info, 32)
    cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    plain = AESGCM(cek).decrypt(nonce, ciphertext, None)
    padded = plain.rstrip(b"\x00")
    assert padded.endswith(b"\x02"), "the last record ends with the delimiter 0x02"
    return padded[:-1]


def verify_vapid(authorization: str, public_key_b64: str, audience: str) -> dict[str, Any]:
    """Check ``vapid t=JWT,k=KEY`` (RFC 8292): ES256 over the JWT with the tenant's public key."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid", authorization
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    assert parts["k"] == public_key_b64
    header_b64, claims_b64, sig_b64 = parts["t"].split(".")
    sig = unb64url(sig_b64)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(public_key_b64))
    public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims: dict[str, Any] = json.loads(unb64url(claims_b64))
    assert claims["aud"] == audience
    return claims


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PushReceiver:
    """The app and what it received; paths in ``gone`` answer 410."""

    gone: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/push/{token}")
        async def push(token: str, request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.received.append(Received(f"/push/{token}", dict(request.headers), body))
            return Response(status_code=410 if token in self.gone else 201)

        return app

    def to(self, token: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == f"/push/{token}"]
