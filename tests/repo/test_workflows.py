"""Checks of the GitHub configuration and the Dockerfile.

The linters run here rather than only on GitHub: a broken workflow is found before it
is pushed, and nothing of this needs the network.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
GITHUB_DIR = REPO_ROOT / ".github"
WORKFLOWS = sorted((GITHUB_DIR / "workflows").glob("*.y*ml"))
CI_WORKFLOW = GITHUB_DIR / "workflows" / "ci.yml"
RELEASE_WORKFLOW = GITHUB_DIR / "workflows" / "release.yml"
RELEASE_NOTES_CONFIG = GITHUB_DIR / "release.yml"
PR_TEMPLATE = GITHUB_DIR / "pull_request_template.md"
DEPENDABOT_CONFIG = GITHUB_DIR / "dependabot.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"


def run_linter(*command: str) -> None:
    result = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{Path(command[0]).name} exited with {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def triggers(workflow: dict[Any, Any]) -> Any:
    # YAML 1.1, which PyYAML follows, reads the key `on` as the boolean true.
    return workflow.get("on", workflow.get(True))


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def workflow_id(path: Path) -> str:
    return path.name


def test_workflows_exist() -> None:
    assert {CI_WORKFLOW, RELEASE_WORKFLOW} <= set(WORKFLOWS)


def test_actionlint(
    tool: Callable[[str], str], optional_tool: Callable[[str], str | None]
) -> None:
    # Name the external checkers explicitly, so that the result does not depend on
    # what else the machine has on PATH. shellcheck comes with the test dependencies
    # where it has a wheel; pyflakes has nothing to check in these workflows.
    shellcheck = optional_tool("shellcheck") or ""
    run_linter(
        tool("actionlint"),
        "-no-color",
        "-oneline",
        f"-shellcheck={shellcheck}",
        "-pyflakes=",
        *map(str, WORKFLOWS),
    )


def test_zizmor(tool: Callable[[str], str]) -> None:
    # Offline: the online audits would ask GitHub's API, which tests cannot reach.
    run_linter(
        tool("zizmor"),
        "--offline",
        "--no-progress",
        "--color=never",
        *map(str, WORKFLOWS),
        str(DEPENDABOT_CONFIG),
    )


def test_hadolint(tool: Callable[[str], str]) -> None:
    if not DOCKERFILE.is_file():
        pytest.fail(f"{DOCKERFILE} is missing: there is no Dockerfile to lint.")
    run_linter(tool("hadolint"), "--no-color", str(DOCKERFILE))


@pytest.mark.parametrize("path", WORKFLOWS, ids=workflow_id)
def test_workflow_grants_read_only_by_default(path: Path) -> None:
    assert load_yaml(path)["permissions"] == {"contents": "read"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=workflow_id)
def test_workflow_jobs_have_timeouts(path: Path) -> None:
    jobs = load_yaml(path)["jobs"]
    assert [name for name, job in jobs.items() if "timeout-minutes" not in job] == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=workflow_id)
def test_checkouts_do_not_keep_the_token(path: Path) -> None:
    # Otherwise the token stays in .git/config, readable by every later step.
    checkouts = [
        step
        for step in steps(load_yaml(path))
        if step.get("uses", "").startswith("actions/checkout@")
    ]
    assert checkouts
    assert all(step["with"]["persist-credentials"] is False for step in checkouts)


@pytest.mark.parametrize("path", WORKFLOWS, ids=workflow_id)
def test_actions_are_pinned_to_commits(path: Path) -> None:
    # A tag can be moved to other code; a commit cannot. The comment keeps the pin
    # readable, and Dependabot updates both.
    uses = re.findall(
        r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$",
        path.read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    assert uses
    unpinned = [
        action
        for action, comment in uses
        if not re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action)
        or not re.fullmatch(r"\s*#\s*v\d+(\.\d+)*", comment)
    ]
    assert unpinned == []


def test_ci_tests_every_supported_python() -> None:
    pyproject = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    floor = re.search(
        r'^requires-python\s*=\s*">=\s*3\.(\d+)"', pyproject, re.MULTILINE
    )
    assert floor, "requires-python should read '>=3.N'"
    matrix = load_yaml(CI_WORKFLOW)["jobs"]["tests"]["strategy"]["matrix"]
    minors = sorted(int(version.split(".")[1]) for version in matrix["python-version"])
    # No gap, starting at the oldest version that the package accepts.
    assert minors == list(range(int(floor.group(1)), minors[-1] + 1))
    assert len(matrix["postgres-version"]) >= 2


def test_ci_runs_only_existing_scripts() -> None:
    commands = [step["run"] for step in steps(load_yaml(CI_WORKFLOW)) if "run" in step]
    scripts = {
        word for command in commands for word in command.split() if "scripts/" in word
    }
    assert scripts >= {
        "scripts/tests",
        "scripts/docs",
        "scripts/lint",
        "scripts/benchmarks",
    }
    missing = sorted(
        script
        for script in scripts
        if not (REPO_ROOT / script).is_file()
        or not (REPO_ROOT / script).stat().st_mode & 0o111
    )
    assert missing == [], "scripts run by CI that do not exist or are not executable"


def test_ci_runs_benchmarks_on_main_only() -> None:
    job = load_yaml(CI_WORKFLOW)["jobs"]["benchmarks"]
    assert job["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"


def test_release_workflow_publishes_published_releases() -> None:
    workflow = load_yaml(RELEASE_WORKFLOW)
    assert triggers(workflow) == {"release": {"types": ["published"]}}
    publish = workflow["jobs"]["publish"]
    assert publish["needs"] == "build"
    assert publish["environment"]["name"] == "pypi"
    assert publish["permissions"] == {"id-token": "write"}
    (upload,) = [
        step
        for step in publish["steps"]
        if step.get("uses", "").startswith("pypa/gh-action-pypi-publish@")
    ]
    # Trusted publishing: no token, no password.
    assert "with" not in upload


def version_check_script() -> tuple[str, dict[str, str]]:
    (step,) = [
        step
        for step in load_yaml(RELEASE_WORKFLOW)["jobs"]["build"]["steps"]
        if step.get("name") == "Check that the version is the tag"
    ]
    return step["run"], step["env"]


@pytest.mark.parametrize(
    ("tag", "passes"),
    [
        pytest.param("9.8.7", True, id="tag-is-version"),
        pytest.param("9.8.7rc1", False, id="other-version"),
        pytest.param("v9.8.7", False, id="v-prefix"),
    ],
)
def test_release_fails_when_version_is_not_the_tag(
    tmp_path: Path, tag: str, passes: bool
) -> None:
    script, env = version_check_script()
    assert env == {"TAG": "${{ github.event.release.tag_name }}"}
    (tmp_path / "dist").mkdir()
    for name in ("procrastinate-9.8.7.tar.gz", "procrastinate-9.8.7-py3-none-any.whl"):
        (tmp_path / "dist" / name).touch()
    # GitHub runs `run:` scripts with `bash -e`.
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=tmp_path,
        env={"TAG": tag, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode == 0) is passes, result.stdout + result.stderr


def release_note_labels() -> list[str]:
    categories = load_yaml(RELEASE_NOTES_CONFIG)["changelog"]["categories"]
    return [label for category in categories for label in category["labels"]]


def test_release_notes_exclude_bots_and_catch_everything_else() -> None:
    changelog = load_yaml(RELEASE_NOTES_CONFIG)["changelog"]
    assert set(changelog["exclude"]["authors"]) >= {
        "dependabot[bot]",
        "renovate[bot]",
        "pre-commit-ci[bot]",
    }
    assert changelog["categories"][-1]["labels"] == ["*"]
    assert release_note_labels().count("*") == 1


def test_pr_template_offers_each_release_note_label() -> None:
    template = PR_TEMPLATE.read_text(encoding="utf-8")
    offered = re.findall(r"^- \[ \] .*\(`([\w-]+)`\)$", template, flags=re.MULTILINE)
    assert offered == [label for label in release_note_labels() if label != "*"]
