"""What the code, presets and README cite is in the repository (docs/), so a reader of a
clone can follow every citation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CITED = re.compile(r"\b([A-Za-z]+\.md)\s*§")
LINK = re.compile(r"\]\(([^)#\s]+)\)")


def _sources() -> list[Path]:
    return [p for d in ("codesign", "isa", "workloads") for p in (ROOT / d).rglob("*")
            if p.suffix in {".py", ".toml", ".json"}]


def test_every_section_citation_names_a_file_in_docs_reference() -> None:
    cited = {m for p in _sources() for m in CITED.findall(p.read_text(errors="replace"))}
    assert {"riscv.md", "gpu.md"} <= cited     # the presets cite them
    missing = sorted(c for c in cited if not (ROOT / "docs" / "reference" / c).is_file())
    assert not missing, f"cited but not in docs/reference/: {missing}"


@pytest.mark.parametrize("doc", ["README.md", "docs/README.md"])
def test_every_relative_link_resolves(doc: str) -> None:
    path = ROOT / doc
    links = [u for u in LINK.findall(path.read_text()) if "://" not in u]
    assert links
    broken = [u for u in links if not (path.parent / u).exists()]
    assert not broken, f"{doc} links to missing files: {broken}"
