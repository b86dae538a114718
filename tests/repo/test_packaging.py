"""Build the committed state of the repository as a release would, and check the result.

The build goes through pypa/build, like .github/workflows/release.yml: it runs the
project's PEP 517 backend (poetry-core with poetry-dynamic-versioning) in an isolated
environment, which is what `poetry build` does for this pyproject.toml too.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from packaging.utils import parse_wheel_filename
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[2]
TAG = "9.8.7"
SDIST = f"procrastinate-{TAG}.tar.gz"
WHEEL = f"procrastinate-{TAG}-py3-none-any.whl"

# Building and installing needs packages from PyPI; on a cold cache that can take a
# few minutes.
pytestmark = pytest.mark.timeout(300)

# A git hook or a CI step may point git at another repository (GIT_DIR and the like),
# and poetry-dynamic-versioning obeys version overrides from the environment: either
# would make a build report a version that no tag gave it.
ENV = {
    key: value
    for key, value in os.environ.items()
    if not key.startswith(("GIT_", "POETRY_DYNAMIC_VERSIONING"))
}
# Whatever the user's configuration, commits here need no identity and no signature.
GIT = (
    "git",
    "-c",
    "user.name=Packaging test",
    "-c",
    "user.email=packaging-test@example.invalid",
    "-c",
    "commit.gpgSign=false",
    "-c",
    "tag.gpgSign=false",
)


def run(*command: str | Path, cwd: Path) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(map(str, command))}` exited with {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def clone_head(dest: Path) -> Path:
    """Clone the last commit, as CI would see it, without the repository's tags."""
    head = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "HEAD"],
        cwd=REPO_ROOT,
        env=ENV,
        capture_output=True,
        check=False,
    )
    if head.returncode != 0:
        pytest.fail(f"{REPO_ROOT} has no commit yet: there is nothing to build.")
    # Without tags, only the tags made here decide the version.
    run(
        *GIT,
        "clone",
        "--no-hardlinks",
        "--no-tags",
        "--quiet",
        REPO_ROOT,
        dest,
        cwd=REPO_ROOT,
    )
    return dest


def build(source: Path, outdir: Path, *options: str) -> None:
    run(sys.executable, "-m", "build", *options, "--outdir", outdir, source, cwd=source)


def built_wheel_version(outdir: Path) -> Version:
    (wheel,) = outdir.glob("*.whl")
    _, version, _, _ = parse_wheel_filename(wheel.name)
    return version


@dataclasses.dataclass(frozen=True)
class TaggedBuild:
    source: Path
    dist: Path


@pytest.fixture(scope="module")
def tagged_build(tmp_path_factory: pytest.TempPathFactory) -> TaggedBuild:
    base = tmp_path_factory.mktemp("tagged")
    source = clone_head(base / "procrastinate")
    # GitHub creates lightweight tags when a release is published.
    run(*GIT, "tag", TAG, cwd=source)
    dist = base / "dist"
    # Both formats, the wheel being built from the sdist: a file missing from the
    # sdist is then missing from the wheel too.
    build(source, dist)
    return TaggedBuild(source=source, dist=dist)


def packaged_files(source: Path) -> set[str]:
    """The files of the source tree that users need at run time."""
    package = source / "procrastinate"
    migrations = sorted((package / "sql" / "migrations").glob("*.sql"))
    assert migrations, "no migration in procrastinate/sql/migrations"
    web = package / "contrib" / "web"
    files = [
        package / "sql" / "schema.sql",
        package / "sql" / "monitoring.sql",
        package / "sql" / "listener.sql",
        package / "py.typed",
        *migrations,
        # The dashboard's templates and static files, and the Django admin's template.
        *sorted((web / "templates").glob("*.html")),
        *sorted((web / "static").iterdir()),
        *sorted((package / "contrib" / "django" / "templates").rglob("*.html")),
    ]
    return {path.relative_to(source).as_posix() for path in files}


def test_tagged_build_is_versioned_by_the_tag(tagged_build: TaggedBuild) -> None:
    assert sorted(path.name for path in tagged_build.dist.iterdir()) == [
        WHEEL,
        SDIST,
    ]
    with zipfile.ZipFile(tagged_build.dist / WHEEL) as wheel:
        metadata = wheel.read(f"procrastinate-{TAG}.dist-info/METADATA").decode()
    assert f"\nVersion: {TAG}\n" in metadata


def test_wheel_contains_sql_and_type_marker(tagged_build: TaggedBuild) -> None:
    with zipfile.ZipFile(tagged_build.dist / WHEEL) as wheel:
        names = set(wheel.namelist())
    assert packaged_files(tagged_build.source) - names == set()
    # Only the two packages and the metadata: no tests, docs or scripts.
    assert {name.split("/")[0] for name in names} == {
        "procrastinate",
        "procrastinate_demo",
        f"procrastinate-{TAG}.dist-info",
    }


def test_sdist_contains_sql_and_type_marker(tagged_build: TaggedBuild) -> None:
    with tarfile.open(tagged_build.dist / SDIST) as sdist:
        names = {
            name.removeprefix(f"procrastinate-{TAG}/") for name in sdist.getnames()
        }
    assert packaged_files(tagged_build.source) - names == set()


def test_installed_wheel_reports_the_tag(
    tagged_build: TaggedBuild, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    scripts = venv / ("Scripts" if os.name == "nt" else "bin")
    run(
        scripts / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        tagged_build.dist / WHEEL,
        cwd=tmp_path,
    )
    # Run from outside the source tree, so that only the installed package is found.
    output = run(scripts / "procrastinate", "--version", cwd=tmp_path)
    assert TAG in output


@pytest.mark.parametrize(
    "tag_before_last_commit",
    [pytest.param(False, id="never-tagged"), pytest.param(True, id="commit-after-tag")],
)
def test_untagged_build_is_a_development_version(
    tmp_path: Path, tag_before_last_commit: bool
) -> None:
    source = clone_head(tmp_path / "procrastinate")
    if tag_before_last_commit:
        run(*GIT, "tag", TAG, cwd=source)
        run(
            *GIT,
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            "After the tag",
            cwd=source,
        )
    build(source, tmp_path / "dist", "--wheel")
    version = built_wheel_version(tmp_path / "dist")

    # Never mistakable for a release: a development version, labelled with the commit.
    assert version.is_devrelease, version
    assert version.local is not None, version
    label = re.search(r"[0-9a-f]{7,}", version.local)
    assert label, version
    assert run("git", "rev-parse", "HEAD", cwd=source).startswith(label.group())
    if tag_before_last_commit:
        # Sorts after the release that it follows.
        assert version.release == Version(TAG).release
        assert version > Version(TAG)
    else:
        assert version < Version(TAG)
