"""Vector libm sequences (log, sin, cos, erf inside gelu) over wide argument ranges, FP32."""

import numpy as np
import torch

from isa import Core, execute
from isa.kernels import lower


def _run(op, x, kind="elementwise"):
    row = {"kind": kind, "op": op, "M": 1, "N": x.size}
    p = lower(row, "rvv", Core(vlen=256, dtype="fp32"))
    return execute(p, {("x" if kind == "activation" else "a"): x.reshape(1, -1)}).buffers["y"][0]


def test_log_relative_error_over_many_decades():
    x = np.float32(10.0) ** np.linspace(-30, 30, 500, dtype=np.float32)
    got = _run("log", x)
    want = np.log(x.astype(np.float64))
    assert np.max(np.abs(got - want) / np.maximum(np.abs(want), 1.0)) < 1e-6


def test_sin_cos_absolute_error_within_cephes_domain():
    x = np.linspace(-8192, 8192, 997, dtype=np.float32)
    for op, fn in (("sin", np.sin), ("cos", np.cos)):
        got = _run(op, x)
        assert np.max(np.abs(got - fn(x.astype(np.float64)))) < 2e-3  # argument ulp ~ 1e-3
    small = np.linspace(-10, 10, 501, dtype=np.float32)
    assert np.max(np.abs(_run("sin", small) - np.sin(small.astype(np.float64)))) < 1e-6


def test_gelu_matches_exact_erf_gelu():
    x = np.linspace(-8, 8, 401, dtype=np.float32)
    want = torch.nn.functional.gelu(torch.from_numpy(x).double()).numpy()
    assert np.max(np.abs(_run("gelu", x, "activation") - want)) < 2e-6
