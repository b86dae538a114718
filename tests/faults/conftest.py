"""The fault suite: real ``procrastinate worker`` processes drain jobs while the
database or the workers suffer faults; then the jobs are counted.

Every test of this folder is marked ``faults`` (select them with ``-m faults``). The
counts (:func:`tally`) must all be zero:

- **lost**: a deferred job that is gone, or that ended ``failed``, ``aborted`` or
  ``cancelled`` (every fault here is recoverable, and the task retries);
- **stuck**: a job still ``todo`` or ``doing`` once the workers had time to drain;
- **run twice**: a job whose task ran to its end more than once;
- **run twice at once**: two completed runs of jobs sharing a lock (the same job
  included) that overlap in time;
- **workers dead**: a worker process that exited without being asked to.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import procrastinate
from tests.support import commands, databases, records

from .harness import FaultsCli, PrivateCluster, import_devdb


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def events_dir(tmp_path: Path) -> Path:
    path = tmp_path / "events"
    path.mkdir()
    return path


@pytest.fixture
def faults_env(db_env: dict[str, str], events_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in db_env.items()
        if not key.startswith("PROCRASTINATE_")
    }
    return {**env, "FAULTS_EVENTS_DIR": str(events_dir)}


@pytest.fixture
def db(connection: psycopg.Connection[Any], db_name: str) -> records.Database:
    return records.Database(connection=connection, name=db_name)


@pytest.fixture
def workers(
    faults_env: dict[str, str], db: records.Database, tmp_path: Path
) -> Iterator[commands.Workers]:
    started = commands.Workers(cli=FaultsCli(env=faults_env), db=db, log_dir=tmp_path)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def sync_app(conninfo: str) -> Iterator[procrastinate.App]:
    app = procrastinate.App(
        connector=procrastinate.SyncPsycopgConnector(conninfo=conninfo, min_size=1)
    )
    with app.open():
        yield app


@pytest.fixture(scope="session")
def private_cluster() -> Iterator[PrivateCluster]:
    devdb = import_devdb()
    if devdb.find_local_bin_dir() is None:
        pytest.skip(
            "no local PostgreSQL binaries (initdb, pg_ctl): install Debian's "
            "postgresql package to run the restart faults"
        )
    # Reachable by the cluster's unprivileged user, unlike pytest's tmp_path.
    state_dir = Path(tempfile.mkdtemp(prefix="procrastinate-faults-"))
    try:
        server = devdb.up(state_dir, force="local-binaries")
        yield PrivateCluster(state_dir=state_dir, host=server.host, port=server.port)
    finally:
        devdb.down(state_dir, remove=True)
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture
def private_db(private_cluster: PrivateCluster) -> str:
    """A database with the schema on the private cluster."""
    name = f"faults_{os.getpid()}"
    server = private_cluster.connection_params()
    databases.drop_database(name, **server)
    databases.create_database(name, **server)
    databases.install_schema(name, **server)
    return name
