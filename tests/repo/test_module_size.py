"""No module of the package grows past :data:`MAX_LINES` lines: a longer one holds
more than one idea and is split by idea. The SQL files and the Django migrations are
not modules of that kind (they are generated or append-only)."""

from __future__ import annotations

import pathlib

import procrastinate

ROOT = pathlib.Path(procrastinate.__file__).parent
MAX_LINES = 500
#: Folders whose files are data or history, not code to keep small.
EXEMPT_FOLDERS = {"sql", "migrations"}


def oversized_modules(root: pathlib.Path = ROOT) -> dict[str, int]:
    """The Python modules under ``root`` (outside :data:`EXEMPT_FOLDERS`) longer than
    :data:`MAX_LINES` lines, with their number of lines."""
    sizes = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if EXEMPT_FOLDERS & set(relative.parts[:-1]):
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            sizes[str(relative)] = lines
    return sizes


def test_oversized_modules_finds_long_modules_outside_exempt_folders(
    tmp_path: pathlib.Path,
) -> None:
    (tmp_path / "long.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (tmp_path / "short.py").write_text("x = 1\n" * MAX_LINES)
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_long.py").write_text("x = 1\n" * 900)
    assert oversized_modules(tmp_path) == {"long.py": MAX_LINES + 1}


def test_no_module_of_the_package_is_over_the_limit() -> None:
    assert oversized_modules() == {}
