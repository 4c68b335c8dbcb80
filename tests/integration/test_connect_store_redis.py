"""Continue with Facebook's logins in progress shared by inbox replicas through Redis (issue 22), against
the real Redis of this machine."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from inbox_api.connect.store import ConnectStore, RedisKept

pytestmark = pytest.mark.integration
TENANT, USER = uuid.uuid4(), uuid.uuid4()


def test_replicas_sharing_redis_share_logins_sealed() -> None:
    """The callback may reach another replica than the start: both read one Redis; the token inside
    is sealed there, and a state is used once across replicas (real Redis on this machine)."""
    from redis.asyncio import Redis

    from omni_common.crypto import KeyRing, generate_key

    ring = KeyRing.from_strings([generate_key()])
    prefix = f"omnitest:{uuid.uuid4().hex}:connect:"

    async def go() -> None:
        redis = Redis.from_url("redis://127.0.0.1:6379/0")
        one, two = (ConnectStore(kept=RedisKept(redis, ring, prefix)) for _ in range(2))
        try:
            state = await one.issue("sid", TENANT, USER, ("facebook",))
            assert await two.look(state, "sid") is not None
            assert await two.take(state, "sid") is not None
            assert await one.take(state, "sid") is None  # used once, whichever replica
            handle = await one.keep(one.choices("sid", TENANT, "EAA-secret-token", {"pages": []}, ["x"]))
            raw = await redis.get(prefix + "pick:" + handle)
            assert raw is not None
            assert b"EAA-secret-token" not in raw  # sealed, never plain in Redis
            found = await two.peek(handle, "sid")
            assert found is not None
            assert found.user_token == "EAA-secret-token"
            await two.drop(handle)
            assert await one.peek(handle, "sid") is None
        finally:
            async for key in redis.scan_iter(prefix + "*"):
                await redis.delete(key)
            await redis.aclose()

    asyncio.run(go())
