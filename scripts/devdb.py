#!/usr/bin/env python3
"""Find or start a PostgreSQL server for development and tests.

Commands (all take ``--state-dir DIR``, a git-ignored folder such as ``.tmp/pg``):

``up [--allow-docker]``
    Make a server available and print ``export PGHOST=...`` style lines on
    stdout, ready for ``eval``.  Progress goes to stderr.  The first of these
    wins: the server the PG* variables already point to, a server on
    localhost:5432, the ``postgres`` service of docker-compose.yml (only with
    ``--allow-docker``), a private cluster in DIR/cluster made with the local
    PostgreSQL binaries, the same made with the binaries of the pgserver wheel.
``down [--remove]``
    Stop the private cluster, but only if DIR records that devdb made it.
    ``--remove`` also deletes its data folder.
``env``
    Print the export lines of the last ``up`` without starting anything.

The environment variable ``DEVDB_FORCE`` exists for the test-suite only: set to
``local-binaries`` or ``pgserver``, ``up`` skips the PG* variables, localhost
and Docker and makes its private cluster from that source of binaries.

This file only uses the standard library at import time, so that any
python3 >= 3.10 can run it before the virtualenv exists.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

Source = Literal["env", "localhost", "docker", "local-binaries", "pgserver"]
BinarySource = Literal["local-binaries", "pgserver"]

REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_FILE = "devdb.json"
CLUSTER_DIR = "cluster"
SERVER_LOG = "postgres.log"
CLUSTER_CONF = "devdb.conf"
FORCE_VARIABLE = "DEVDB_FORCE"
REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
SYSTEM_PG_ROOT = Path("/usr/lib/postgresql")
LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 5432
SUPERUSER = "postgres"
DOCKER_HOST = "localhost"
DOCKER_PASSWORD = "password"
DOCKER_TIMEOUT = 60.0
PROBE_TIMEOUT = 2.0
STDERR_FD = 2
# Unix socket paths are capped at 104-108 bytes depending on the OS.
MAX_SOCKET_PATH = 100
NOTHING_FOUND = (
    "No PostgreSQL found: install PostgreSQL (apt-get install postgresql / "
    "brew install postgresql) or run scripts/bootstrap to get the pgserver "
    "wheel, or set PG* variables to a server you have."
)


class DevDBError(Exception):
    """A problem worth one sentence to the user, then exit status 1."""


@dataclass(frozen=True)
class Server:
    """Where to reach PostgreSQL, and whether devdb started it."""

    host: str | None
    port: int | None
    user: str | None
    password: str | None
    owned: bool
    source: Source


@dataclass(frozen=True)
class Cluster:
    """A private cluster devdb made, hence the only kind it may stop."""

    port: int
    bin_dir: Path
    data_dir: Path
    run_as: str
    source: BinarySource


@dataclass(frozen=True)
class State:
    """What DIR/devdb.json remembers between runs."""

    chosen: Server | None = None
    cluster: Cluster | None = None


@dataclass(frozen=True)
class Probes:
    """Questions the decision asks, answered lazily so that slow ones run last."""

    env_set: bool
    env_answers: Callable[[], bool]
    localhost_answers: Callable[[], bool]
    docker_available: Callable[[], bool]
    local_bin_dir: Callable[[], Path | None]
    pgserver_bin_dir: Callable[[], Path | None]


@dataclass(frozen=True)
class Decision:
    """Which branch ``up`` takes, with the lines explaining why."""

    source: Source
    bin_dir: Path | None = None
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Account:
    """An OS user to run PostgreSQL binaries as."""

    name: str
    uid: int
    gid: int


# --- Pure decisions -------------------------------------------------------


def decide(probes: Probes, *, allow_docker: bool, force: str | None = None) -> Decision:
    """Pick the branch of ``up`` from the probes, asking them in order."""
    if force:
        return decide_forced(probes, force)
    notes: list[str] = []
    if probes.env_set:
        if probes.env_answers():
            return Decision(
                "env", notes=("using the server the PG* variables point to",)
            )
        notes.append("no server answers with the PG* variables, looking elsewhere")
    if probes.localhost_answers():
        return Decision(
            "localhost",
            notes=(*notes, f"using the server on {LOOPBACK}:{DEFAULT_PORT}"),
        )
    if allow_docker and probes.docker_available():
        return Decision(
            "docker",
            notes=(*notes, "starting the postgres service of docker-compose.yml"),
        )
    return decide_binaries(probes, notes)


def decide_binaries(probes: Probes, notes: Sequence[str] = ()) -> Decision:
    """Prefer binaries installed on the machine over the bundled wheel."""
    local = probes.local_bin_dir()
    if local is not None:
        note = f"using a private cluster made with the binaries in {local}"
        return Decision("local-binaries", local, (*notes, note))
    bundled = probes.pgserver_bin_dir()
    if bundled is not None:
        note = f"using a private cluster made with the pgserver binaries in {bundled}"
        return Decision("pgserver", bundled, (*notes, note))
    raise DevDBError(NOTHING_FOUND)


def decide_forced(probes: Probes, force: str) -> Decision:
    """Honour DEVDB_FORCE, which tests use to reach each cluster branch."""
    finders: dict[str, Callable[[], Path | None]] = {
        "local-binaries": probes.local_bin_dir,
        "pgserver": probes.pgserver_bin_dir,
    }
    finder = finders.get(force)
    if finder is None:
        raise DevDBError(
            f"{FORCE_VARIABLE} must be one of {', '.join(finders)}, not {force!r}."
        )
    bin_dir = finder()
    if bin_dir is None:
        raise DevDBError(f"{FORCE_VARIABLE}={force} but no such binaries were found.")
    source: BinarySource = "pgserver" if force == "pgserver" else "local-binaries"
    note = f"{FORCE_VARIABLE}={force}: using a private cluster made with {bin_dir}"
    return Decision(source, bin_dir, (note,))


def env_is_set(environ: Mapping[str, str]) -> bool:
    """Whether the user already points libpq somewhere."""
    return any(environ.get(name) for name in ("PGHOST", "PGPORT", "PGUSER"))


def server_from_env(environ: Mapping[str, str]) -> Server | None:
    """The PG* variables as a Server, or None if PGPORT is not a number."""
    port_text = environ.get("PGPORT") or None
    if port_text is not None and not port_text.isdigit():
        return None
    return Server(
        host=environ.get("PGHOST") or None,
        port=int(port_text) if port_text else None,
        user=environ.get("PGUSER") or None,
        password=environ.get("PGPASSWORD") or None,
        owned=False,
        source="env",
    )


def localhost_server() -> Server:
    return Server(
        LOOPBACK, DEFAULT_PORT, SUPERUSER, None, owned=False, source="localhost"
    )


def docker_server() -> Server:
    return Server(
        DOCKER_HOST,
        DEFAULT_PORT,
        SUPERUSER,
        DOCKER_PASSWORD,
        owned=False,
        source="docker",
    )


def cluster_server(cluster: Cluster) -> Server:
    return Server(
        LOOPBACK, cluster.port, SUPERUSER, None, owned=True, source=cluster.source
    )


def export_lines(server: Server) -> list[str]:
    """Shell lines for ``eval``; unset fields are left to libpq defaults."""
    values = {
        "PGHOST": server.host,
        "PGPORT": None if server.port is None else str(server.port),
        "PGUSER": server.user,
        "PGPASSWORD": server.password,
    }
    return [
        f"export {name}={shlex.quote(value)}"
        for name, value in values.items()
        if value is not None
    ]


def is_cluster_server(server: Server, cluster: Cluster | None) -> bool:
    """Whether the PG* variables merely point back at our own cluster."""
    if cluster is None:
        return False
    return server.port == cluster.port and server.host in (LOOPBACK, "localhost")


def version_key(directory: Path) -> tuple[int, ...]:
    """Sort key for /usr/lib/postgresql/<version>/bin folders."""
    return tuple(int(part) for part in re.findall(r"\d+", directory.parent.name))


def newest_version_dir(candidates: Iterable[Path]) -> Path | None:
    ordered = sorted(candidates, key=version_key, reverse=True)
    return ordered[0] if ordered else None


def unprivileged_name(euid: int, user_exists: Callable[[str], bool]) -> str | None:
    """initdb refuses root, so root hands the cluster to a system user."""
    if euid != 0:
        return None
    return SUPERUSER if user_exists(SUPERUSER) else "nobody"


def as_user(
    command: Sequence[str],
    account: Account | None,
    which: Callable[[str], str | None] = shutil.which,
) -> list[str]:
    """Wrap a command so that it runs as ``account`` (None: as ourselves)."""
    if account is None:
        return list(command)
    if which("runuser"):
        return ["runuser", "-u", account.name, "--", *command]
    if which("setpriv"):
        ids = [f"--reuid={account.uid}", f"--regid={account.gid}", "--init-groups"]
        return ["setpriv", *ids, "--", *command]
    return ["su", "-s", "/bin/sh", "-c", shlex.join(command), account.name]


def socket_dir_setting(state_dir: Path, port: int) -> str:
    """DIR for the unix socket, or '' (TCP only) when the path is too long."""
    socket_path = state_dir / f".s.PGSQL.{port}"
    if len(os.fsencode(socket_path)) > MAX_SOCKET_PATH:
        return ""
    return str(state_dir)


def conf_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def cluster_conf(state_dir: Path, port: int) -> str:
    """Settings devdb rewrites on every start, so the port can change."""
    lines = [
        "# Written by scripts/devdb.py at each start: edits here are lost.",
        f"port = {port}",
        f"listen_addresses = {conf_quote(LOOPBACK)}",
        f"unix_socket_directories = {conf_quote(socket_dir_setting(state_dir, port))}",
        "# A throwaway development cluster: speed beats crash safety.",
        "fsync = off",
        "synchronous_commit = off",
        "full_page_writes = off",
    ]
    return "\n".join(lines) + "\n"


# --- State file -----------------------------------------------------------


def state_to_json(state: State) -> dict[str, Any]:
    cluster = None
    if state.cluster is not None:
        cluster = asdict(state.cluster)
        cluster["bin_dir"] = str(state.cluster.bin_dir)
        cluster["data_dir"] = str(state.cluster.data_dir)
    chosen = None if state.chosen is None else asdict(state.chosen)
    return {"chosen": chosen, "cluster": cluster}


def state_from_json(data: Mapping[str, Any]) -> State:
    chosen = data.get("chosen")
    cluster = data.get("cluster")
    return State(
        chosen=None if chosen is None else server_from_json(chosen),
        cluster=None if cluster is None else cluster_from_json(cluster),
    )


def server_from_json(data: Mapping[str, Any]) -> Server:
    if data["source"] not in get_args(Source):
        raise ValueError(f"unknown source {data['source']!r}")
    return Server(
        host=data["host"],
        port=data["port"],
        user=data["user"],
        password=data["password"],
        owned=bool(data["owned"]),
        source=data["source"],
    )


def cluster_from_json(data: Mapping[str, Any]) -> Cluster:
    if data["source"] not in get_args(BinarySource):
        raise ValueError(f"unknown source {data['source']!r}")
    return Cluster(
        port=int(data["port"]),
        bin_dir=Path(data["bin_dir"]),
        data_dir=Path(data["data_dir"]),
        run_as=str(data["run_as"]),
        source=data["source"],
    )


def load_state(state_dir: Path) -> State:
    path = state_dir / STATE_FILE
    if not path.exists():
        return State()
    try:
        return state_from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise DevDBError(
            f"{path} is unreadable ({exc}); delete it, then stop any leftover cluster by hand."
        ) from exc


def save_state(state_dir: Path, state: State) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / STATE_FILE
    # Write then rename, so that an interrupted run never leaves half a file.
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state_to_json(state), indent=2) + "\n")
    temporary.replace(path)


def owns(cluster: Cluster, state_dir: Path) -> bool:
    """Only DIR/cluster can be ours: a state file pointing elsewhere is ignored."""
    return cluster.data_dir.resolve() == (state_dir / CLUSTER_DIR).resolve()


# --- Probes (I/O) ---------------------------------------------------------


def say(message: str) -> None:
    print(f"devdb: {message}", file=sys.stderr)


def run(
    command: Sequence[str], *, cwd: Path | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def server_answers(server: Server, timeout: float = PROBE_TIMEOUT) -> bool:
    """Cheap liveness check first, then a real query when psycopg is around."""
    if not is_listening(server, timeout):
        return False
    return query_succeeds(server, timeout)


def is_listening(server: Server, timeout: float) -> bool:
    pg_isready = shutil.which("pg_isready")
    if pg_isready is None:
        return tcp_connects(server, timeout)
    # pg_isready takes whole seconds, and 0 would mean "wait forever".
    command = [pg_isready, "-q", "-d", "postgres", "-t", str(max(1, round(timeout)))]
    command += connection_flags(server)
    try:
        return run(command, timeout=timeout + 3).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def connection_flags(server: Server) -> list[str]:
    flags: list[str] = []
    for flag, value in (("-h", server.host), ("-p", server.port), ("-U", server.user)):
        if value is not None:
            flags += [flag, str(value)]
    return flags


def tcp_connects(server: Server, timeout: float) -> bool:
    host = server.host or "localhost"
    port = server.port or DEFAULT_PORT
    if host.startswith("/"):
        return unix_connects(Path(host) / f".s.PGSQL.{port}", timeout)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def unix_connects(path: Path, timeout: float) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError:
            return False
        return True


def query_succeeds(server: Server, timeout: float) -> bool:
    """SELECT 1 catches what pg_isready cannot: wrong user or password."""
    try:
        import psycopg
    except ImportError:
        return True
    params: dict[str, Any] = {
        "dbname": "postgres",
        "connect_timeout": max(1, round(timeout)),
    }
    for key, value in (
        ("host", server.host),
        ("port", server.port),
        ("user", server.user),
        ("password", server.password),
    ):
        if value is not None:
            params[key] = value
    try:
        with psycopg.connect(**params) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def docker_available() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        return run([docker, "info"], timeout=15).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def has_binaries(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in REQUIRED_BINARIES)


def find_local_bin_dir(
    search_path: str | None = None, system_root: Path = SYSTEM_PG_ROOT
) -> Path | None:
    """Binaries on PATH first, else the newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("pg_ctl", path=search_path)
    if on_path is not None:
        # Symlinks (Debian, Homebrew) point to the folder holding the real
        # install, whose share/ and lib/ initdb needs.
        for directory in (Path(on_path).resolve().parent, Path(on_path).parent):
            if has_binaries(directory):
                return directory
    candidates = [path for path in system_root.glob("*/bin") if has_binaries(path)]
    return newest_version_dir(candidates)


def find_pgserver_bin_dir(repo_root: Path = REPO_ROOT) -> Path | None:
    for package_dir in pgserver_package_dirs(repo_root):
        bin_dir = package_dir / "pginstall" / "bin"
        if has_binaries(bin_dir):
            return bin_dir
    return None


def pgserver_package_dirs(repo_root: Path) -> list[Path]:
    """Locate pgserver without importing it (its import pulls in more)."""
    dirs: list[Path] = []
    try:
        spec = importlib.util.find_spec("pgserver")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        dirs += [Path(location) for location in spec.submodule_search_locations]
    # devdb may run under a system python3 before .venv is activated.
    dirs += sorted(
        repo_root.glob(".venv/lib/python3*/site-packages/pgserver"), reverse=True
    )
    return dirs


def make_probes(environ: Mapping[str, str]) -> Probes:
    def env_answers() -> bool:
        server = server_from_env(environ)
        return server is not None and server_answers(server)

    return Probes(
        env_set=env_is_set(environ),
        env_answers=env_answers,
        localhost_answers=lambda: server_answers(localhost_server()),
        docker_available=docker_available,
        local_bin_dir=find_local_bin_dir,
        pgserver_bin_dir=find_pgserver_bin_dir,
    )


# --- Running as an unprivileged user --------------------------------------


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def account_named(name: str) -> Account:
    entry = pwd.getpwnam(name)
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def current_user_name() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def owner_for_new_cluster() -> str:
    return unprivileged_name(os.geteuid(), user_exists) or current_user_name()


def switch_to(run_as: str) -> Account | None:
    """The account to wrap commands with, None when we already are run_as."""
    if run_as == current_user_name():
        return None
    if os.geteuid() != 0:
        raise DevDBError(
            f"the cluster runs as {run_as}: run devdb as {run_as} or as root."
        )
    return account_named(run_as)


def hand_over(state_dir: Path, account: Account | None) -> None:
    """Give DIR to the cluster's user and check every parent lets it in."""
    if account is None:
        return
    # Not recursive on purpose: a mistyped --state-dir must not chown a tree.
    for path in (state_dir, state_dir / CLUSTER_DIR, state_dir / SERVER_LOG):
        if path.exists():
            os.chown(path, account.uid, account.gid, follow_symlinks=False)
    if run(as_user(["test", "-w", str(state_dir)], account)).returncode != 0:
        raise DevDBError(
            f"user {account.name} cannot reach {state_dir} (a parent folder is private): pick a --state-dir it can reach."
        )


# --- The private cluster --------------------------------------------------


def pg_ctl(
    cluster: Cluster, *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    command = [str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.data_dir), *args]
    return run(
        as_user(command, switch_to(cluster.run_as)),
        cwd=cluster.data_dir.parent,
        timeout=timeout,
    )


def is_running(cluster: Cluster) -> bool:
    return pg_ctl(cluster, "status").returncode == 0


def port_is_free(port: int) -> bool:
    """Whether PostgreSQL could listen on the port now. Like PostgreSQL, bind with
    SO_REUSEADDR: the connections a stopped server leaves in TIME_WAIT do not keep
    it from listening again, only another listener does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """Let the OS pick: a fixed port would clash between checkouts."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def init_cluster(state_dir: Path, bin_dir: Path, source: BinarySource) -> Cluster:
    data_dir = state_dir / CLUSTER_DIR
    if data_dir.exists() and any(data_dir.iterdir()):
        raise DevDBError(
            f"{data_dir} exists but devdb has no record of making it: remove it or pick another --state-dir."
        )
    run_as = owner_for_new_cluster()
    account = switch_to(run_as)
    hand_over(state_dir, account)
    say(
        f"initialising a cluster in {data_dir}"
        + (f" as user {run_as}" if account else "")
    )
    command = [
        str(bin_dir / "initdb"),
        "-D",
        str(data_dir),
        "--auth=trust",
        f"--username={SUPERUSER}",
        "--encoding=UTF8",
        "--locale=C",
        # Durability of a throwaway cluster is not worth seconds of fsync.
        "--no-sync",
    ]
    result = run(as_user(command, account), cwd=state_dir, timeout=120)
    if result.returncode != 0:
        raise DevDBError(f"initdb failed: {tail(result.stderr or result.stdout)}")
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write(f"\ninclude_if_exists = {conf_quote(CLUSTER_CONF)}\n")
    return Cluster(
        port=0, bin_dir=bin_dir, data_dir=data_dir, run_as=run_as, source=source
    )


def start_cluster(state_dir: Path, cluster: Cluster) -> Cluster:
    # Keep the previous port when possible so open shells stay valid.
    port = cluster.port if cluster.port and port_is_free(cluster.port) else free_port()
    conf_path = cluster.data_dir / CLUSTER_CONF
    conf_path.write_text(cluster_conf(state_dir, port))
    account = switch_to(cluster.run_as)
    if account is not None:
        os.chown(conf_path, account.uid, account.gid)
    started = replace(cluster, port=port)
    log = state_dir / SERVER_LOG
    result = pg_ctl(started, "-l", str(log), "-w", "-t", "30", "start", timeout=60)
    if result.returncode != 0:
        raise DevDBError(f"pg_ctl start failed: {tail(read_log(log) or result.stderr)}")
    say(f"started the private cluster on {LOOPBACK}:{port}")
    return started


def read_log(log: Path) -> str:
    try:
        return log.read_text(errors="replace")
    except OSError:
        return ""


def recorded_cluster(state_dir: Path, state: State) -> Cluster | None:
    """Our cluster from an earlier run, if its data folder still exists."""
    cluster = state.cluster
    if cluster is None or not owns(cluster, state_dir):
        return None
    if not (cluster.data_dir / "PG_VERSION").exists():
        return None
    if not has_binaries(cluster.bin_dir):
        raise DevDBError(
            f"the binaries that made {cluster.data_dir} are gone ({cluster.bin_dir}): run devdb.py down --remove, then up."
        )
    return cluster


def ensure_cluster(state_dir: Path, bin_dir: Path, source: BinarySource) -> Cluster:
    """Start (making it first if needed) or reuse our cluster in DIR."""
    state_dir.mkdir(parents=True, exist_ok=True)
    state = load_state(state_dir)
    cluster = recorded_cluster(state_dir, state)
    if cluster is None:
        cluster = init_cluster(state_dir, bin_dir, source)
        # Record ownership before starting, so `down --remove` can clean up
        # even if the start fails.
        save_state(state_dir, replace(state, cluster=cluster))
    elif is_running(cluster):
        return reuse_running(cluster)
    cluster = start_cluster(state_dir, cluster)
    save_state(state_dir, replace(load_state(state_dir), cluster=cluster))
    return cluster


def reuse_running(cluster: Cluster) -> Cluster:
    if not server_answers(cluster_server(cluster)):
        raise DevDBError(
            f"the cluster in {cluster.data_dir} runs but does not answer on port {cluster.port}: run devdb.py down, then up."
        )
    say(f"reusing the running private cluster on {LOOPBACK}:{cluster.port}")
    return cluster


def start_docker(
    repo_root: Path = REPO_ROOT,
    server: Server | None = None,
    timeout: float = DOCKER_TIMEOUT,
) -> Server:
    """Start compose's postgres service and wait until it takes queries."""
    docker = shutil.which("docker") or "docker"
    # Compose chatter goes to fd 2 (not sys.stderr, which callers may have
    # swapped for an object without a file descriptor): stdout is reserved
    # for export lines.
    result = subprocess.run(
        [docker, "compose", "up", "-d", "postgres"],
        cwd=repo_root,
        stdout=STDERR_FD,
        check=False,
    )
    if result.returncode != 0:
        raise DevDBError("docker compose up -d postgres failed, see above.")
    server = docker_server() if server is None else server
    wait_until_answers(server, timeout)
    return server


def wait_until_answers(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not server_answers(server):
        if time.monotonic() > deadline:
            raise DevDBError(
                f"the docker postgres service did not answer within {timeout:.0f} s: see docker compose logs postgres."
            )
        time.sleep(0.5)


# --- Commands -------------------------------------------------------------


def realise(decision: Decision, state_dir: Path, environ: Mapping[str, str]) -> Server:
    """Carry out the decided branch and return where the server is."""
    if decision.source == "env":
        return env_server(state_dir, environ)
    if decision.source == "localhost":
        return localhost_server()
    if decision.source == "docker":
        return start_docker()
    assert decision.bin_dir is not None, "binary branches always carry a bin dir"
    source: BinarySource = (
        "pgserver" if decision.source == "pgserver" else "local-binaries"
    )
    return cluster_server(ensure_cluster(state_dir, decision.bin_dir, source))


def env_server(state_dir: Path, environ: Mapping[str, str]) -> Server:
    server = server_from_env(environ)
    assert server is not None, "decide only picks env when PGPORT parses"
    # After `eval "$(devdb.py up)"` the PG* variables point at our own
    # cluster; keep calling it ours so that `down` still applies.
    cluster = load_state(state_dir).cluster
    return replace(server, owned=is_cluster_server(server, cluster))


def up(
    state_dir: Path,
    *,
    allow_docker: bool = False,
    force: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Server:
    environ = os.environ if environ is None else environ
    decision = decide(make_probes(environ), allow_docker=allow_docker, force=force)
    for note in decision.notes:
        say(note)
    server = realise(decision, state_dir, environ)
    save_state(state_dir, replace(load_state(state_dir), chosen=server))
    return server


def down(state_dir: Path, *, remove: bool = False) -> bool:
    """Stop our cluster; return whether there was one of ours to act on."""
    state = load_state(state_dir)
    cluster = state.cluster
    if cluster is None or not owns(cluster, state_dir):
        say(f"no cluster of ours in {state_dir}: nothing to stop")
        return False
    stop_if_running(cluster)
    chosen = None if state.chosen is not None and state.chosen.owned else state.chosen
    if remove:
        shutil.rmtree(cluster.data_dir, ignore_errors=True)
        say(f"removed {cluster.data_dir}")
    save_state(state_dir, State(chosen=chosen, cluster=None if remove else cluster))
    return True


def stop_if_running(cluster: Cluster) -> None:
    if not (cluster.data_dir / "PG_VERSION").exists() or not is_running(cluster):
        say(f"the private cluster in {cluster.data_dir} is not running")
        return
    result = pg_ctl(cluster, "stop", "-m", "fast", "-w", "-t", "30")
    if result.returncode != 0:
        raise DevDBError(f"pg_ctl stop failed: {tail(result.stderr or result.stdout)}")
    say(f"stopped the private cluster on {LOOPBACK}:{cluster.port}")


def env(state_dir: Path) -> Server:
    chosen = load_state(state_dir).chosen
    if chosen is None:
        raise DevDBError(f"nothing recorded in {state_dir}: run devdb.py up first.")
    return chosen


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="devdb.py",
        description="Find or start PostgreSQL for development and tests.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("up", "make a server available and print export lines"),
        ("down", "stop the private cluster devdb started"),
        ("env", "print the export lines of the last up"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "--state-dir", type=Path, required=True, help="private folder, e.g. .tmp/pg"
        )
        if name == "up":
            command.add_argument(
                "--allow-docker",
                action="store_true",
                help="may start docker compose's postgres",
            )
        if name == "down":
            command.add_argument(
                "--remove", action="store_true", help="also delete the cluster's data"
            )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    state_dir: Path = args.state_dir.absolute()
    try:
        if args.command == "down":
            down(state_dir, remove=args.remove)
            return 0
        if args.command == "up":
            force = os.environ.get(FORCE_VARIABLE) or None
            server = up(state_dir, allow_docker=args.allow_docker, force=force)
        else:
            server = env(state_dir)
    except DevDBError as exc:
        say(str(exc))
        return 1
    print("\n".join(export_lines(server)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
