"""Property: whatever a database user NOTIFYs on procrastinate's channels, the worker
keeps running and still runs jobs (issue 12 item 1).

The example count is small by default; set ``PROCRASTINATE_HYPOTHESIS_EXAMPLES`` for a
longer run.
"""

from __future__ import annotations

import asyncio
import json
import os

import hypothesis
import psycopg
from hypothesis import strategies as st

import procrastinate
from procrastinate import manager
from tests.support.workers import wait_listening

EXAMPLES = int(os.environ.get("PROCRASTINATE_HYPOTHESIS_EXAMPLES", "6"))
# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more, and any NUL character.
MAX_PAYLOAD_BYTES = 7999

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
lookalikes = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["job_inserted", "abort_job_requested"]) | json_values,
        "job_id": json_values,
    }
).map(json.dumps)
deep = st.integers(min_value=900, max_value=3000).map(lambda depth: "[" * depth)
payloads = (
    st.text(max_size=200) | json_values.map(json.dumps) | lookalikes | deep
).filter(lambda text: "\x00" not in text and len(text.encode()) <= MAX_PAYLOAD_BYTES)
channels = st.sampled_from(
    [manager.ANY_QUEUE_CHANNEL, manager.queue_channel("default")]
)


async def run_example(conninfo: str, sent: list[tuple[str, str]]) -> None:
    connector = procrastinate.PsycopgConnector(conninfo=conninfo, min_size=1)
    app = procrastinate.App(connector=connector)
    done = asyncio.Event()

    @app.task
    async def ping() -> None:
        done.set()

    async with app.open_async():
        # Polling every minute: only a notification can wake the worker in time.
        worker = asyncio.ensure_future(
            app.run_worker_async(
                install_signal_handlers=False, fetch_job_polling_interval=60
            )
        )
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                await wait_listening(conn)
                for channel, payload in sent:
                    conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))
            await ping.defer_async()
            await asyncio.wait_for(done.wait(), timeout=10)
            assert not worker.done()
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)


@hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
    database=None,
)
@hypothesis.given(sent=st.lists(st.tuples(channels, payloads), min_size=1, max_size=6))
def test_any_notification_leaves_the_worker_running(
    conninfo: str, sent: list[tuple[str, str]]
) -> None:
    asyncio.run(run_example(conninfo, sent))
