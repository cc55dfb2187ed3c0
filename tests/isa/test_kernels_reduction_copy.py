"""reduction and copy kernels vs torch."""

from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=10, deadline=None)
@given(op=st.sampled_from(["sum", "mean", "amax", "cumsum"]), m=st.integers(1, 4),
       n=st.integers(1, 80),
       vlen=st.sampled_from([128, 256]), dtype=st.sampled_from(["bf16", "fp32"]))
def test_reduction_matches_torch(matches_reference, op, m, n, vlen, dtype):
    matches_reference({"kind": "reduction", "op": op, "M": m, "N": n}, "rvv", vlen, dtype)


@settings(max_examples=12, deadline=None)
@given(op=st.sampled_from(["copy", "cast", "cat", "pad", "gather", "scatter"]),
       m=st.integers(1, 4), n=st.integers(1, 300), extra=st.integers(0, 3),
       dtype=st.sampled_from(["bf16", "fp32"]))
def test_copy_is_exact(matches_reference, op, m, n, extra, dtype):
    row = {"kind": "copy", "op": op, "M": m, "N": n}
    if op in ("gather", "scatter"):
        row["K"] = m + extra  # table / destination rows
    r = matches_reference(row, "rvv+xattn", 256, dtype)
    assert r.worst_abs == 0.0


@settings(max_examples=6, deadline=None)
@given(m=st.integers(1, 5), n=st.integers(1, 200), k=st.integers(1, 9),
       vlen=st.sampled_from([128, 512]), dtype=st.sampled_from(["bf16", "fp32"]))
def test_embedding_gathers_rows_exactly(matches_reference, m, n, k, vlen, dtype):
    row = {"kind": "embedding", "op": "gather", "M": m, "N": n, "K": k}
    r = matches_reference(row, "rvv", vlen, dtype)
    assert r.worst_abs == 0.0


def test_embedding_rows_are_unit_stride_through_a_base_register():
    from isa import Core
    from isa.kernels import lower
    p = lower({"kind": "embedding", "op": "gather", "M": 4, "N": 4096, "K": 248320}, "rvv",
              Core(vlen=512))
    tp = Core().timing()
    loads = [(i, k) for i, k in p.walk() if i.mem is not None and i.mem.buf == "table"]
    assert loads and all(i.mem.pattern == "unit" and i.mem.base is not None for i, _ in loads)
    assert all(i.mem.base.n in i.timing(tp).xsrc for i, _ in loads)
    assert sum(k * i.timing(tp).mem_bytes for i, k in loads) == 4 * 4096 * 2
