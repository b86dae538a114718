"""Tests for scripts/devdb.py: each decision branch, then real clusters."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import devdb
import psycopg
import pytest

DEVDB_SCRIPT = Path(devdb.__file__).resolve()
EXPORT_LINE = re.compile(r"^export PG(HOST|PORT|USER|PASSWORD)=\S+$")
IS_ROOT = os.geteuid() == 0


# --- Helpers --------------------------------------------------------------


def fail_if_called(name: str) -> Callable[[], bool]:
    """A probe the decision must not reach."""

    def probe() -> bool:
        raise AssertionError(f"probe {name} should not run")

    return probe


def make_probes(
    *,
    env_set: bool = False,
    env_answers: bool = False,
    localhost: bool = False,
    docker: bool = False,
    local: Path | None = None,
    bundled: Path | None = None,
) -> devdb.Probes:
    return devdb.Probes(
        env_set=env_set,
        env_answers=lambda: env_answers,
        localhost_answers=lambda: localhost,
        docker_available=lambda: docker,
        local_bin_dir=lambda: local,
        pgserver_bin_dir=lambda: bundled,
    )


def make_fake_bin_dir(folder: Path) -> Path:
    """A folder holding executables named like the PostgreSQL binaries."""
    folder.mkdir(parents=True)
    for name in devdb.REQUIRED_BINARIES:
        path = folder / name
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def select_one(server: devdb.Server) -> int:
    with psycopg.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        dbname="postgres",
        connect_timeout=3,
    ) as connection:
        row = connection.execute("SELECT 1").fetchone()
    assert row is not None
    value: int = row[0]
    return value


def reachable_state_dir() -> Path:
    """A fresh folder the cluster's unprivileged user can reach.

    pytest's tmp_path lives under a 0700 folder owned by root, which the
    `postgres` user cannot traverse, hence a plain temporary folder.
    """
    return Path(tempfile.mkdtemp(prefix="devdb-test-"))


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEVDB_SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without PG* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.pop(devdb.FORCE_VARIABLE, None)
    env.update(extra)
    return env


def teardown_cluster(state_dir: Path) -> None:
    try:
        devdb.down(state_dir, remove=True)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def local_cluster() -> Iterator[tuple[Path, devdb.Server]]:
    """One cluster from the local binaries, shared by the read-only tests."""
    state_dir = reachable_state_dir()
    try:
        server = devdb.up(state_dir, force="local-binaries")
        yield state_dir, server
    finally:
        teardown_cluster(state_dir)


@pytest.fixture
def fresh_state_dir() -> Iterator[Path]:
    state_dir = reachable_state_dir()
    try:
        yield state_dir
    finally:
        teardown_cluster(state_dir)


# --- Decision: one test per branch ----------------------------------------


def test_decide_env_when_pg_variables_answer() -> None:
    probes = make_probes(env_set=True, env_answers=True)
    probes = dataclasses.replace(probes, localhost_answers=fail_if_called("localhost"))

    assert devdb.decide(probes, allow_docker=True).source == "env"


def test_decide_skips_dead_pg_variables() -> None:
    decision = devdb.decide(
        make_probes(env_set=True, env_answers=False, localhost=True), allow_docker=False
    )

    assert decision.source == "localhost"
    assert "no server answers with the PG* variables" in decision.notes[0]


def test_decide_localhost() -> None:
    decision = devdb.decide(make_probes(localhost=True, docker=True), allow_docker=True)

    assert decision.source == "localhost"
    assert decision.notes == ("using the server on 127.0.0.1:5432",)


def test_decide_docker_only_when_allowed(tmp_path: Path) -> None:
    probes = make_probes(docker=True, local=tmp_path)

    assert devdb.decide(probes, allow_docker=True).source == "docker"


def test_decide_never_asks_docker_without_allow_docker(tmp_path: Path) -> None:
    probes = make_probes(local=tmp_path)
    probes = dataclasses.replace(probes, docker_available=fail_if_called("docker"))

    decision = devdb.decide(probes, allow_docker=False)

    assert decision.source == "local-binaries"
    assert decision.bin_dir == tmp_path


def test_decide_local_binaries_before_pgserver(tmp_path: Path) -> None:
    decision = devdb.decide(
        make_probes(local=tmp_path / "local", bundled=tmp_path / "wheel"),
        allow_docker=True,
    )

    assert (decision.source, decision.bin_dir) == ("local-binaries", tmp_path / "local")


def test_decide_pgserver_without_local_binaries(tmp_path: Path) -> None:
    decision = devdb.decide(make_probes(bundled=tmp_path), allow_docker=True)

    assert (decision.source, decision.bin_dir) == ("pgserver", tmp_path)


def test_decide_nothing_says_what_to_install() -> None:
    with pytest.raises(devdb.DevDBError) as error:
        devdb.decide(make_probes(), allow_docker=True)

    message = str(error.value)
    assert message == devdb.NOTHING_FOUND
    assert "install PostgreSQL" in message
    assert "scripts/bootstrap" in message
    assert message.count(". ") == 0, "one sentence"


@pytest.mark.parametrize("force", ["local-binaries", "pgserver"])
def test_decide_forced_skips_servers(tmp_path: Path, force: str) -> None:
    probes = devdb.Probes(
        env_set=True,
        env_answers=fail_if_called("env"),
        localhost_answers=fail_if_called("localhost"),
        docker_available=fail_if_called("docker"),
        local_bin_dir=lambda: tmp_path / "local",
        pgserver_bin_dir=lambda: tmp_path / "wheel",
    )

    decision = devdb.decide(probes, allow_docker=True, force=force)

    assert decision.source == force


def test_decide_forced_rejects_unknown_value() -> None:
    with pytest.raises(devdb.DevDBError, match="must be one of"):
        devdb.decide(make_probes(), allow_docker=False, force="docker")


def test_decide_forced_without_binaries() -> None:
    with pytest.raises(devdb.DevDBError, match="no such binaries"):
        devdb.decide(make_probes(), allow_docker=False, force="pgserver")


# --- Other pure helpers ---------------------------------------------------


def test_export_lines_quote_and_skip_unset() -> None:
    server = devdb.Server(None, 5433, "me", "p w'd", owned=False, source="env")

    assert devdb.export_lines(server) == [
        "export PGPORT=5433",
        "export PGUSER=me",
        "export PGPASSWORD='p w'\"'\"'d'",
    ]


def test_docker_server_has_a_password() -> None:
    assert devdb.export_lines(devdb.docker_server()) == [
        "export PGHOST=localhost",
        "export PGPORT=5432",
        "export PGUSER=postgres",
        "export PGPASSWORD=password",
    ]


def test_env_is_set_needs_host_port_or_user() -> None:
    assert not devdb.env_is_set({"PGDATABASE": "x", "PGPASSWORD": "y"})
    assert devdb.env_is_set({"PGUSER": "x"})


def test_server_from_env() -> None:
    server = devdb.server_from_env({"PGHOST": "db", "PGPORT": "6000"})

    assert server == devdb.Server("db", 6000, None, None, owned=False, source="env")
    assert devdb.server_from_env({"PGPORT": "not-a-port"}) is None


def test_is_cluster_server(tmp_path: Path) -> None:
    cluster = devdb.Cluster(
        6000, tmp_path, tmp_path / "cluster", "postgres", "pgserver"
    )
    ours = devdb.Server("localhost", 6000, "postgres", None, owned=False, source="env")

    assert devdb.is_cluster_server(ours, cluster)
    assert not devdb.is_cluster_server(ours, None)
    assert not devdb.is_cluster_server(
        devdb.Server("db", 6000, None, None, False, "env"), cluster
    )


def test_newest_version_dir() -> None:
    dirs = [Path("/x/9.6/bin"), Path("/x/16/bin"), Path("/x/15/bin")]

    assert devdb.newest_version_dir(dirs) == Path("/x/16/bin")
    assert devdb.newest_version_dir([]) is None


def test_unprivileged_name() -> None:
    assert devdb.unprivileged_name(1000, lambda name: True) is None
    assert devdb.unprivileged_name(0, lambda name: True) == "postgres"
    assert devdb.unprivileged_name(0, lambda name: False) == "nobody"


def test_as_user_prefers_runuser_then_setpriv_then_su() -> None:
    account = devdb.Account("postgres", 101, 104)
    command = ["pg_ctl", "-D", "a dir", "status"]

    assert devdb.as_user(command, None) == command
    assert devdb.as_user(command, account, which=lambda name: name)[:4] == [
        "runuser",
        "-u",
        "postgres",
        "--",
    ]
    setpriv = devdb.as_user(
        command, account, which=lambda name: name if name == "setpriv" else None
    )
    assert setpriv[:5] == [
        "setpriv",
        "--reuid=101",
        "--regid=104",
        "--init-groups",
        "--",
    ]
    su = devdb.as_user(command, account, which=lambda name: None)
    assert su == ["su", "-s", "/bin/sh", "-c", "pg_ctl -D 'a dir' status", "postgres"]


def test_socket_dir_falls_back_to_tcp_only_for_long_paths(tmp_path: Path) -> None:
    assert devdb.socket_dir_setting(Path("/tmp/pg"), 5432) == "/tmp/pg"
    assert devdb.socket_dir_setting(tmp_path / ("x" * 120), 5432) == ""


def test_cluster_conf_listens_on_loopback_only() -> None:
    conf = devdb.cluster_conf(Path("/tmp/it's"), 6000)

    assert "port = 6000\n" in conf
    assert "listen_addresses = '127.0.0.1'\n" in conf
    assert "unix_socket_directories = '/tmp/it''s'\n" in conf


def test_state_round_trip(tmp_path: Path) -> None:
    state = devdb.State(
        chosen=devdb.Server(
            "127.0.0.1", 6000, "postgres", None, owned=True, source="pgserver"
        ),
        cluster=devdb.Cluster(
            6000, tmp_path / "bin", tmp_path / "cluster", "postgres", "pgserver"
        ),
    )

    devdb.save_state(tmp_path, state)

    assert devdb.load_state(tmp_path) == state
    assert devdb.load_state(tmp_path / "missing") == devdb.State()


def test_unreadable_state_is_an_error(tmp_path: Path) -> None:
    (tmp_path / devdb.STATE_FILE).write_text("{not json")

    with pytest.raises(devdb.DevDBError, match="unreadable"):
        devdb.load_state(tmp_path)


def test_owns_only_the_cluster_folder_of_its_state_dir(tmp_path: Path) -> None:
    mine = devdb.Cluster(1, tmp_path, tmp_path / "cluster", "postgres", "pgserver")
    elsewhere = devdb.Cluster(
        1, tmp_path, Path("/var/lib/postgresql/15/main"), "postgres", "pgserver"
    )

    assert devdb.owns(mine, tmp_path)
    assert not devdb.owns(elsewhere, tmp_path)


# --- Probes against the file system and processes -------------------------


def test_find_local_bin_dir_follows_path_symlinks(tmp_path: Path) -> None:
    real = make_fake_bin_dir(tmp_path / "opt" / "pg" / "bin")
    on_path = tmp_path / "path"
    on_path.mkdir()
    for name in devdb.REQUIRED_BINARIES:
        (on_path / name).symlink_to(real / name)

    found = devdb.find_local_bin_dir(
        search_path=str(on_path), system_root=tmp_path / "none"
    )

    assert found == real.resolve()


def test_find_local_bin_dir_picks_newest_system_version(tmp_path: Path) -> None:
    for version in ("9.6", "15", "13"):
        make_fake_bin_dir(tmp_path / version / "bin")
    (tmp_path / "17" / "bin").mkdir(parents=True)  # incomplete: ignored

    found = devdb.find_local_bin_dir(
        search_path=str(tmp_path / "empty"), system_root=tmp_path
    )

    assert found == tmp_path / "15" / "bin"


def test_find_local_bin_dir_none(tmp_path: Path) -> None:
    assert (
        devdb.find_local_bin_dir(search_path=str(tmp_path), system_root=tmp_path)
        is None
    )


def test_find_pgserver_bin_dir_from_installed_wheel() -> None:
    found = devdb.find_pgserver_bin_dir()

    assert found is not None
    assert found.parts[-3:] == ("pgserver", "pginstall", "bin")
    assert devdb.has_binaries(found)


def test_pgserver_package_dirs_include_repo_venv(tmp_path: Path) -> None:
    package = tmp_path / ".venv" / "lib" / "python3.99" / "site-packages" / "pgserver"
    package.mkdir(parents=True)

    assert package in devdb.pgserver_package_dirs(tmp_path)


@pytest.mark.parametrize(("exit_code", "expected"), [(0, True), (1, False)])
def test_docker_available_runs_docker_info(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exit_code: int, expected: bool
) -> None:
    docker = tmp_path / "docker"
    docker.write_text(f'#!/bin/sh\n[ "$1" = info ] && exit {exit_code}\nexit 2\n')
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))

    assert devdb.docker_available() is expected


def test_docker_unavailable_without_docker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    assert devdb.docker_available() is False


def fake_docker(folder: Path, compose_exit: int) -> None:
    docker = folder / "docker"
    docker.write_text(f'#!/bin/sh\necho "fake docker $*"\nexit {compose_exit}\n')
    docker.chmod(0o755)


def test_start_docker_reports_compose_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_docker(tmp_path, compose_exit=1)
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(devdb.DevDBError, match="docker compose up -d postgres failed"):
        devdb.start_docker(repo_root=tmp_path)


# Slow: waits out a timeout of one second, on purpose.
@pytest.mark.slow
def test_start_docker_gives_up_after_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_docker(tmp_path, compose_exit=0)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    silent = devdb.Server(
        devdb.LOOPBACK, devdb.free_port(), "postgres", "x", False, "docker"
    )

    with pytest.raises(devdb.DevDBError, match="did not answer within 1 s"):
        devdb.start_docker(repo_root=tmp_path, server=silent, timeout=1)


def test_start_docker_waits_for_the_server(
    local_cluster: tuple[Path, devdb.Server],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, server = local_cluster
    fake_docker(tmp_path, compose_exit=0)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")

    assert devdb.start_docker(repo_root=tmp_path, server=server, timeout=5) == server


def test_closed_port_does_not_answer() -> None:
    server = devdb.Server(
        devdb.LOOPBACK, devdb.free_port(), "postgres", None, owned=False, source="env"
    )

    assert not devdb.server_answers(server)


def test_main_reports_nothing_found_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(devdb, "make_probes", lambda environ: make_probes())
    monkeypatch.delenv(devdb.FORCE_VARIABLE, raising=False)

    assert devdb.main(["up", "--state-dir", str(tmp_path)]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"devdb: {devdb.NOTHING_FOUND}\n"


# --- Real clusters --------------------------------------------------------


def test_local_cluster_answers(local_cluster: tuple[Path, devdb.Server]) -> None:
    state_dir, server = local_cluster

    assert server.source == "local-binaries"
    assert server.owned
    assert server.host == "127.0.0.1"
    assert select_one(server) == 1
    assert devdb.load_state(state_dir).cluster is not None


def test_up_is_idempotent(local_cluster: tuple[Path, devdb.Server]) -> None:
    state_dir, server = local_cluster

    assert devdb.up(state_dir, force="local-binaries") == server


def test_env_prints_last_choice(
    local_cluster: tuple[Path, devdb.Server], capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir, server = local_cluster

    assert devdb.main(["env", "--state-dir", str(state_dir)]) == 0

    assert capsys.readouterr().out.splitlines() == devdb.export_lines(server)


def test_env_without_record_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert devdb.main(["env", "--state-dir", str(tmp_path)]) == 1

    assert "nothing recorded" in capsys.readouterr().err


def test_cli_up_prints_only_export_lines(
    local_cluster: tuple[Path, devdb.Server],
) -> None:
    state_dir, server = local_cluster
    env = clean_env(**{devdb.FORCE_VARIABLE: "local-binaries"})

    result = run_cli("up", "--state-dir", str(state_dir), env=env)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines == devdb.export_lines(server)
    assert all(EXPORT_LINE.match(line) for line in lines)
    assert all(line.startswith("devdb: ") for line in result.stderr.splitlines())


def test_cli_up_reuses_pg_variables(
    local_cluster: tuple[Path, devdb.Server], tmp_path: Path
) -> None:
    _, server = local_cluster
    env = clean_env(PGHOST="127.0.0.1", PGPORT=str(server.port), PGUSER="postgres")

    result = run_cli("up", "--state-dir", str(tmp_path), env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == devdb.export_lines(server)
    assert "PG* variables" in result.stderr
    recorded = json.loads((tmp_path / devdb.STATE_FILE).read_text())
    assert recorded["chosen"]["source"] == "env"
    assert recorded["cluster"] is None


def test_down_ignores_a_cluster_it_does_not_own(
    local_cluster: tuple[Path, devdb.Server], tmp_path: Path
) -> None:
    state_dir, server = local_cluster
    # A state file naming someone else's data folder must not make it ours.
    foreign = devdb.load_state(state_dir)
    devdb.save_state(tmp_path, foreign)

    assert devdb.down(tmp_path, remove=True) is False

    assert select_one(server) == 1
    assert (state_dir / devdb.CLUSTER_DIR / "PG_VERSION").exists()


def test_down_on_empty_state_dir_does_nothing(tmp_path: Path) -> None:
    assert devdb.down(tmp_path) is False

    assert list(tmp_path.iterdir()) == []


def test_down_leaves_a_chosen_server_alone(tmp_path: Path) -> None:
    devdb.save_state(tmp_path, devdb.State(chosen=devdb.localhost_server()))

    assert devdb.down(tmp_path, remove=True) is False

    assert devdb.load_state(tmp_path).chosen == devdb.localhost_server()


def test_port_in_time_wait_is_free() -> None:
    # The server side closes first, as a stopping PostgreSQL does: its end of the
    # connection stays in TIME_WAIT on the port.
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((devdb.LOOPBACK, 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection((devdb.LOOPBACK, port)) as client:
            accepted, _ = listener.accept()
            accepted.close()
            assert client.recv(1) == b""
        assert not devdb.port_is_free(port)
    assert devdb.port_is_free(port)


# Slow: starts and stops real PostgreSQL clusters.
@pytest.mark.slow
@pytest.mark.parametrize("force", ["local-binaries", "pgserver"])
def test_cluster_lifecycle(fresh_state_dir: Path, force: str) -> None:
    server = devdb.up(fresh_state_dir, force=force)
    assert (server.source, server.owned) == (force, True)
    assert select_one(server) == 1
    cluster = devdb.load_state(fresh_state_dir).cluster
    assert cluster is not None
    assert cluster.run_as == ("postgres" if IS_ROOT else devdb.current_user_name())

    assert devdb.down(fresh_state_dir) is True
    assert not devdb.server_answers(server)
    assert devdb.load_state(fresh_state_dir).chosen is None

    # A stopped cluster restarts from its data, on the same port unless another
    # program listens there now (the connections it closed do not count).
    port_was_free = devdb.port_is_free(server.port)
    restarted = devdb.up(fresh_state_dir, force=force)
    assert restarted == (
        server if port_was_free else dataclasses.replace(server, port=restarted.port)
    )
    assert select_one(restarted) == 1

    assert devdb.down(fresh_state_dir, remove=True) is True
    assert not devdb.server_answers(server)
    assert not (fresh_state_dir / devdb.CLUSTER_DIR).exists()


@pytest.mark.skipif(not IS_ROOT, reason="only root hands the cluster to another user")
def test_root_refuses_a_state_dir_the_user_cannot_reach(tmp_path: Path) -> None:
    # pytest's base temporary folder is 0700 and owned by root.
    with pytest.raises(devdb.DevDBError, match="cannot reach"):
        devdb.up(tmp_path / "pg", force="local-binaries")
