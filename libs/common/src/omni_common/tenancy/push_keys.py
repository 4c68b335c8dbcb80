"""The tenant's VAPID key pair for Web Push: made once, the private half encrypted at rest.

Browsers bind a push subscription to the public key they were given, so the pair must outlive
restarts and be the same on every replica: it lives in the tenant's database (``push_keys``), the
private key sealed with the credentials' AES-GCM key ring, bound to the tenant and this field.
Made at tenant creation (``Provisioner``) or, for tenants older than it, on first use; two replicas
racing on first use keep one pair (``ON CONFLICT DO NOTHING``, then read back).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common import crypto
from omni_common.db.tenant_models import PushKey

# The associated data's "account" part: the key belongs to the tenant, not to an account.
_OWNER = "web-push"
_FIELD = "vapid_private_key"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class VapidPair:
    """Base64url without padding, as browsers (applicationServerKey) and py_vapid take them."""

    public_key: str  # the uncompressed P-256 point (65 bytes)
    private_key: str  # the raw 32-byte scalar


def new_pair() -> VapidPair:
    """A fresh P-256 key pair."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    private = key.private_numbers().private_value.to_bytes(32, "big")
    return VapidPair(_b64url(public), _b64url(private))


def sealing_aad(tenant_id: uuid.UUID) -> bytes:
    """Where the sealed private key may live (key rotation re-seals it with the same)."""
    return crypto.binding(tenant_id, _OWNER, _FIELD)


async def ensure_pair(session: AsyncSession, tenant_id: uuid.UUID, keyring: crypto.KeyRing) -> VapidPair:
    """The tenant's pair, made and stored first if it has none (caller commits)."""
    row = await session.get(PushKey, 1)
    if row is None:
        pair = new_pair()
        sealed = keyring.encrypt(pair.private_key, aad=sealing_aad(tenant_id))
        await session.execute(
            insert(PushKey)
            .values(id=1, public_key=pair.public_key, private_key_encrypted=sealed)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        row = (await session.execute(select(PushKey).where(PushKey.id == 1))).scalar_one()
    private = keyring.decrypt(row.private_key_encrypted, aad=sealing_aad(tenant_id))
    return VapidPair(row.public_key, private)
