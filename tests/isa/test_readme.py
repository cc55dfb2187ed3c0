"""The README's user-extension snippet runs and prints what the README says."""

import contextlib
import io
import re
from pathlib import Path

import pytest

from isa.errors import IsaError

README = Path(__file__).resolve().parents[2] / "isa" / "README.md"


@pytest.mark.parametrize("snippet", [0, 1], ids=["extension", "unit-and-timing"])
def test_readme_snippets_print_documented_output(snippet):
    text = README.read_text()
    code = re.findall(r"```python\n(.*?)```", text, re.S)[snippet]
    expected = re.findall(r"prints\n\n```\n(.*?)```", text, re.S)[snippet]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, str(README), "exec"), {})
    assert buf.getvalue() == expected


def test_a_user_kernel_replaces_and_restores_a_kind() -> None:
    from isa import kernels

    calls = []

    def mine(row, isa, core=None):
        calls.append(row["op"])
        return builtin(row, isa, core)

    builtin = kernels.register_kernel("activation", mine)
    try:
        prog = kernels.lower({"kind": "activation", "op": "silu", "M": 2, "N": 64,
                              "dtype": "bf16"}, "rvv")
        assert calls == ["silu"] and prog.counts().total > 0
    finally:
        assert kernels.register_kernel("activation", builtin) is mine
    # a kind new to the library (one a user adds to the trace vocabulary) has no previous
    assert kernels.register_kernel("conv3d", mine) is None
    kernels.KERNELS.pop("conv3d")
    with pytest.raises(IsaError, match="unknown op kind 'conv3d'"):
        kernels.lower({"kind": "conv3d", "op": "x"}, "rvv")
