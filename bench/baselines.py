"""Raw baselines measured in the same run: aio-pika pipelined confirms and PostgreSQL batched insert."""

from __future__ import annotations

import asyncio
import time

import aio_pika
import orjson
import psycopg

RAW_QUEUE = "bench.raw_publish"
BODY = orjson.dumps({"object": "whatsapp_business_account", "pad": "x" * 900})


async def raw_publish(amqp_url: str, *, count: int, in_flight: int = 1000) -> dict[str, float]:
    """Persistent publishes to a quorum queue with ``in_flight`` confirms outstanding: msgs/s."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(RAW_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
        exchange = channel.default_exchange
        semaphore = asyncio.Semaphore(in_flight)

        async def one() -> None:
            async with semaphore:
                await exchange.publish(
                    aio_pika.Message(BODY, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=RAW_QUEUE,
                )

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        elapsed = time.perf_counter() - start
        await channel.queue_delete(RAW_QUEUE)
        return {"messages": count, "seconds": elapsed, "per_second": count / elapsed}
    finally:
        await connection.close()


async def raw_insert(conninfo: str, *, seconds: float, batch: int = 100) -> dict[str, float]:
    """``executemany`` of ``batch`` rows per transaction, ``ON CONFLICT DO NOTHING``: rows/s."""
    payload = orjson.dumps({"entry": [{"changes": [{"value": {"pad": "x" * 500}}]}]}).decode()
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_rows (id bigserial PRIMARY KEY, external_id text UNIQUE,"
            " channel text, payload jsonb, created_at timestamptz DEFAULT now())"
        )
        rows = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            async with conn.transaction(), conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO bench_rows (external_id, channel, payload) VALUES (%s, 'whatsapp', %s)"
                    " ON CONFLICT (external_id) DO NOTHING",
                    [(f"r{rows + i}", payload) for i in range(batch)],
                )
            rows += batch
        elapsed = time.perf_counter() - start
        await conn.execute("DROP TABLE bench_rows")
    return {"rows": rows, "seconds": elapsed, "per_second": rows / elapsed, "batch": batch}
