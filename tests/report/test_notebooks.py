"""The experiments/ notebooks run top to bottom (nbclient, a timeout per cell), and are
committed without outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
NOTEBOOKS = sorted(EXPERIMENTS.glob("0*.ipynb"))
CELL_TIMEOUT_S = 180


def test_the_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == [
        "01_quickstart", "02_custom_instruction", "03_sweep_vlen_bandwidth", "04_riscv_vs_gpu",
        "05_intelligence_density", "06_edge_frontier"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebooks write into tempfile dirs
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(book, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(EXPERIMENTS)}})
    client.execute()
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # the figures were produced: plotly's MIME bundle appears in the outputs
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) >= 2
