"""The README's commands are real: every `codesign …` line parses with the actual CLI."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from codesign.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    out = []
    for block in blocks:
        for line in block.splitlines():
            code = line.split(" #", 1)[0]
            out.extend(p.strip() for p in code.split("&&")
                       if p.strip().startswith("codesign "))
    return out


def test_readme_starts_with_the_two_commands() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    main_job, tests = blocks[0].strip(), blocks[1].strip()
    assert main_job.startswith("pip install torch==2.13.0 && pip install -e . && codesign run")
    assert "codesign report" in main_job
    assert tests == 'pip install torch==2.13.0 && pip install -e ".[dev]" && python -m pytest'
    ci = (README.parent / ".ci" / "run").read_text()
    assert tests in ci  # CI runs exactly the README's test command


@pytest.mark.parametrize("command", _commands())
def test_every_readme_command_parses(command: str) -> None:
    args = shlex.split(command)[1:]
    parsed = build_parser().parse_args(args)  # exits (SystemExit) on a bad flag or choice
    assert callable(parsed.func)
