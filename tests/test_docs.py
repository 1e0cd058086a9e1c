"""README and docs/ say true things about this repository, with nothing outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import opforge
from opforge.cli import app

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def section(text: str, title: str) -> str:
    body = text.split(f"\n## {title}\n", 1)[1]
    return body.split("\n## ", 1)[0]


def test_every_public_name_is_in_the_public_api_table() -> None:
    table = section(README, "Public API")
    missing = [name for name in opforge.__all__ if f"opforge.{name}" not in table]
    assert not missing, f"add these names to the README's Public API table: {missing}"
    assert "opforge.__version__" in table


def test_the_layout_points_into_the_repository() -> None:
    assert "shared/DESIGN.md" not in README
    assert "docs/architecture.md" in section(README, "Layout")
    architecture = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    for folder in ("opdef.py", "schemas/", "exporters/", "kernels/", "ops/", "conformance/", "cookiecutter/"):
        assert folder in architecture, folder
    for path in re.findall(r"`((?:opforge|cookiecutter|docs|tests|benchmarks)/[\w./]*)`", README + architecture):
        assert (REPO / path.rstrip("/")).exists(), f"the docs name {path}, which is not in the repository"


def test_no_tracked_file_points_outside_the_repository() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    offenders = [f for f in files if (REPO / f).is_file() and f != "tests/test_docs.py"
                 and re.search(r"\.\./shared/|/work/shared", (REPO / f).read_text(encoding="utf-8", errors="replace"))]
    assert not offenders, offenders


def test_readme_says_how_to_get_the_cpu_torch_elsewhere() -> None:
    top = README.split("**One decorator", 1)[0]
    lines = [line for line in top.splitlines() if line.startswith("python3 -m venv")]
    assert len(lines) == 3, lines
    assert all("pip install torch==2.13.0" in line for line in lines)
    assert "--index-url https://download.pytorch.org/whl/cpu" in lines[2]
    assert "takes the CPU wheel" not in README


def test_the_command_line_section_lists_every_command() -> None:
    listed = set(re.findall(r"`opforge (\w+)", section(README, "Command line")))
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert commands <= listed, f"commands missing from the README: {commands - listed}"
    assert listed - {"COMMAND"} <= commands | {"ops"}, listed - commands
