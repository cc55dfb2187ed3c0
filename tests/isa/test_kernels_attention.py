"""attention (FlashAttention-2 prefill, split-KV decode) vs F.scaled_dot_product_attention."""

from hypothesis import given, settings
from hypothesis import strategies as st

from isa import Core
from isa.kernels import lower

ISA = st.sampled_from(["rvv", "rvv+xattn", "rvv+xattn:segred", "rvv+xattn:vfexp,vfrec",
                       "rvv+xattn:mmacc", "rvv+xattn:-mmacc"])


@settings(max_examples=10, deadline=None)
@given(hkv=st.integers(1, 2), grp=st.integers(1, 2), sq=st.integers(2, 60),
       extra=st.sampled_from([0, 1, 5, 9, 17]), d=st.sampled_from([4, 8, 16]),
       causal=st.booleans(), isa=ISA, vlen=st.sampled_from([128, 256]),
       dtype=st.sampled_from(["bf16", "fp32"]))
def test_prefill_matches_sdpa(matches_reference, hkv, grp, sq, extra, d, causal, isa, vlen,
                              dtype):
    row = {"kind": "attention", "B": 1, "Hq": hkv * grp, "Hkv": hkv, "Sq": sq,
           "Skv": sq + extra, "D": d, "causal": causal}
    matches_reference(row, isa, vlen, dtype)


@settings(max_examples=10, deadline=None)
@given(b=st.integers(1, 2), hkv=st.integers(1, 2), grp=st.sampled_from([1, 2, 3, 4, 6, 8]),
       skv=st.integers(1, 40), d=st.sampled_from([8, 16, 64]), isa=ISA,
       vlen=st.sampled_from([128, 256, 512, 1024]), dtype=st.sampled_from(["bf16", "fp32"]))
def test_decode_matches_sdpa(matches_reference, b, hkv, grp, skv, d, isa, vlen, dtype):
    row = {"kind": "attention", "B": b, "Hq": hkv * grp, "Hkv": hkv, "Sq": 1, "Skv": skv,
           "D": d, "causal": True}
    matches_reference(row, isa, vlen, dtype)


def test_causal_prefill_spanning_several_query_blocks(matches_reference):
    row = {"kind": "attention", "B": 1, "Hq": 2, "Hkv": 1, "Sq": 37, "Skv": 40, "D": 8,
           "causal": True}
    matches_reference(row, "rvv", 256, "bf16")  # Br = 16: three query blocks


def test_prefill_never_loads_k_with_strided_loads():
    row = {"kind": "attention", "B": 1, "Hq": 2, "Hkv": 1, "Sq": 64, "Skv": 64, "D": 16,
           "causal": True}
    p = lower(row, "rvv", Core())
    strided = [i for i, _ in p.walk() if i.mem is not None and i.mem.pattern != "unit"]
    assert strided and {i.mem.buf for i in strided} <= {"Q", "O"}


def test_decode_uses_segmented_sums_instead_of_per_key_reductions():
    row = {"kind": "attention", "B": 1, "Hq": 4, "Hkv": 1, "Sq": 1, "Skv": 64, "D": 64}
    rvv = lower(row, "rvv", Core()).counts().by_mnemonic
    seg = lower(row, "rvv+xattn:segred", Core()).counts().by_mnemonic
    assert rvv["vfredusum.vs"] >= 4 * 64
    assert seg["vfsegredsum.vv"] == 4 * 64 // 4


def test_decode_loads_each_kv_row_once_per_kv_head():
    """GQA: the 4 query heads of a group share every K and V load (FlashDecoding)."""
    row = {"kind": "attention", "B": 1, "Hq": 8, "Hkv": 2, "Sq": 1, "Skv": 64, "D": 64}
    for isa in ("rvv", "rvv+xattn"):
        p = lower(row, isa, Core(vlen=512))
        kv = {"K": 0, "V": 0}
        for ins, n in p.walk():
            if ins.mem is not None and ins.mem.buf in kv:
                kv[ins.mem.buf] += n * ins.vl
        assert kv == {"K": 2 * 64 * 64, "V": 2 * 64 * 64}, (isa, kv)


def _causal_prefill(sq, skv=None):
    return {"kind": "attention", "B": 1, "Hq": 2, "Hkv": 1, "Sq": sq, "Skv": skv or sq,
            "D": 16, "causal": True}


def test_causal_prefill_static_size_does_not_grow_with_sq():
    """Causal prefill is a loop nest (log2 levels of squares), not one code per block."""
    sizes = [lower(_causal_prefill(sq), "rvv+xattn", Core()).static_size()
             for sq in (512, 2048, 8192)]
    assert sizes[2] - sizes[0] <= 2 * (sizes[1] - sizes[0]) + 50 and sizes[2] < 2000, sizes


def test_causal_prefill_work_is_exactly_causal():
    """Each query block reads K up to the end of its diagonal band, nothing more."""
    for sq, skv, vlen in ((37, 40, 256), (64, 64, 128), (100, 131, 128)):
        p = lower(_causal_prefill(sq, skv), "rvv", Core(vlen=vlen))
        br = vlen // 16
        keys = sum(skv - sq + min(q0 + br, sq) for q0 in range(0, sq, br))
        kloads = sum(n for i, n in p.walk() if i.mem is not None and i.mem.buf == "K")
        assert kloads == 2 * 16 * keys, (sq, skv)


@settings(max_examples=8, deadline=None)
@given(hkv=st.integers(1, 2), grp=st.integers(1, 2), nq=st.integers(1, 5),
       nextra=st.integers(0, 2), causal=st.booleans(), dm=st.integers(1, 2),
       isa=st.sampled_from(["rvv+xattn", "rvv+xattn:mmacc", "rvv+xattn:-mmacc"]),
       vlen=st.sampled_from([128, 256, 512, 1024]))
def test_vfwmmacc_prefill_matches_sdpa(matches_reference, hkv, grp, nq, nextra, causal, dm,
                                       isa, vlen):
    """Tile path: shapes in whole Br = Bc = K_t blocks (BF16; P rounded to BF16 for PV as
    FA2 on tensor cores: 2^-9 relative per probability, inside the BF16 1e-2 tolerance)."""
    from isa.instructions import tile_geometry
    bk = max(t.k for t in (tile_geometry(vlen, lm) for lm in (1, 2, 4)) if t.c_regs <= 4)
    row = {"kind": "attention", "B": 1, "Hq": hkv * grp, "Hkv": hkv, "Sq": nq * bk,
           "Skv": (nq + nextra) * bk, "D": dm * bk, "causal": causal}
    matches_reference(row, isa, vlen, "bf16")
    prog = lower(row, isa, Core(vlen=vlen))
    # mmacc alone runs the tile path too (RVV exp polynomial, slide-tree row reductions)
    c = prog.counts().by_mnemonic
    assert (c.get("vfwmmacc.vv", 0) > 0) == ("-mmacc" not in isa)
    if isa == "rvv+xattn:mmacc":
        assert not any(k.startswith(("vfexp", "vfsegred")) for k in c)


@settings(max_examples=8, deadline=None)
@given(hkv=st.integers(1, 2), grp=st.integers(1, 2), nq=st.integers(1, 3),
       rq=st.integers(1, 15), nextra=st.integers(0, 2), causal=st.booleans(),
       vlen=st.sampled_from([128, 256, 512, 1024]),
       isa=st.sampled_from(["rvv+xattn", "rvv+xattn:mmacc", "rvv+xattn:mmacc,segred",
                            "rvv+xattn:mmacc,vfexp"]))
def test_vfwmmacc_prefill_query_tail_matches_sdpa(matches_reference, hkv, grp, nq, rq, nextra,
                                                  causal, vlen, isa):
    """Sq not a multiple of Br (e.g. a 2001-token prefill): the whole query blocks run as
    tiles, the last Sq mod Br queries as one RVV block."""
    from isa.instructions import tile_geometry
    bk = max(t.k for t in (tile_geometry(vlen, lm) for lm in (1, 2, 4)) if t.c_regs <= 4)
    rq = rq % bk or 1
    sq = nq * bk + rq
    skv = sq + nextra * bk if causal else (nq + 1 + nextra) * bk
    row = {"kind": "attention", "B": 1, "Hq": hkv * grp, "Hkv": hkv, "Sq": sq, "Skv": skv,
           "D": bk, "causal": causal}
    matches_reference(row, isa, vlen, "bf16")
    c = lower(row, isa, Core(vlen=vlen)).counts().by_mnemonic
    assert c.get("vfwmmacc.vv", 0) > 0 and c.get("vfmacc.vf", 0) > 0


def test_vfwmmacc_prefill_2001_tokens_keeps_tiles():
    row = {"kind": "attention", "B": 1, "Hq": 16, "Hkv": 4, "Sq": 2001, "Skv": 2001,
           "D": 256, "causal": True}
    p = lower(row, "rvv+xattn", Core(vlen=512))
    c = p.counts().by_mnemonic
    nb = 2000 // 16
    assert c["vfwmmacc.vv"] == 16 * (nb * (nb + 1) // 2) * (4 * 16 + 2 * 32)
    assert p.static_size() < 3000


def test_vfwmmacc_prefill_is_exactly_causal_and_compact():
    row = {"kind": "attention", "B": 1, "Hq": 16, "Hkv": 4, "Sq": 2048, "Skv": 2048,
           "D": 256, "causal": True}
    p = lower(row, "rvv+xattn", Core(vlen=512))
    c = p.counts().by_mnemonic
    nb = 2048 // 16  # 16x16 blocks; S: 4 tiles x 16 D steps, PV: 2 tiles x 32 O tiles
    assert c["vfwmmacc.vv"] == 16 * (nb * (nb + 1) // 2) * (4 * 16 + 2 * 32)
    assert p.static_size() < 2000


def test_a_sliding_window_narrower_than_a_query_block_is_refused():
    """The window's lower edge would cut through the band: no kernel (one clear error)."""
    import pytest

    from isa.errors import IsaError
    row = {"kind": "attention", "B": 1, "Hq": 2, "Hkv": 1, "Sq": 40, "Skv": 40, "D": 8,
           "causal": True, "window": 8}
    with pytest.raises(IsaError, match=r"sliding window 8 is narrower than a query block of 16"):
        lower(row, "rvv", Core(vlen=256))


def test_a_window_covering_every_key_is_plain_causal_attention(matches_reference):
    """A decode step past the window attends to Skv = window keys: nothing is masked."""
    row = {"kind": "attention", "B": 1, "Hq": 4, "Hkv": 2, "Sq": 1, "Skv": 16, "D": 8,
           "causal": True}
    windowed = {**row, "window": 16}
    matches_reference(windowed, "rvv+xattn", 256, "bf16")
    core = Core(vlen=256)
    assert lower(windowed, "rvv", core).signature() == lower(row, "rvv", core).signature()


def test_rvv_prefill_interleaves_four_output_rows_in_every_key_block():
    """The P.V loop of the plain-RVV FlashAttention kernel keeps four O^T rows in flight
    (their FMA chains interleaved) in every key block, not only the first one: the f
    registers it borrows for their scalars are free again in the next block."""
    from isa.program import Loop

    row = {"kind": "attention", "B": 1, "Hq": 2, "Hkv": 1, "Sq": 256, "Skv": 256, "D": 64,
           "causal": True}
    prog = lower(row, "rvv", Core(vlen=512))

    def d_loops(nodes):
        for n in nodes:
            if isinstance(n, Loop):
                if n.var == "d" and not any(isinstance(x, Loop) for x in n.body):
                    yield n
                yield from d_loops(n.body)

    pv = [lp for lp in d_loops(prog.body)
          if any("O^T" in (getattr(x, "comment", "") or "") for x in lp.body)]
    assert len(pv) > 4
    fmas = {sum(1 for x in lp.body if getattr(x, "op", "") == "vfmacc.vf") for lp in pv}
    assert fmas == {16}  # 4 rows x 4 keys (Bc = 4 with the polynomial exp)


# ---- sliding window and sinks (GPT-OSS, Mistral; issue #13) ---------------------------------

@settings(max_examples=12, deadline=None)
@given(hkv=st.integers(1, 2), grp=st.integers(1, 2), sq=st.integers(2, 90),
       extra=st.sampled_from([0, 3, 16, 40]), window=st.integers(16, 70),
       sinks=st.booleans(), d=st.sampled_from([8, 16]), isa=ISA,
       dtype=st.sampled_from(["bf16", "fp32"]))
def test_windowed_prefill_matches_torch(matches_reference, hkv, grp, sq, extra, window, sinks,
                                        d, isa, dtype):
    """Sliding-window causal prefill (plain-causal leading blocks, clipped blocks, the steady
    loop, the query tail) against torch with transformers' sliding-window mask."""
    row = {"kind": "attention", "B": 1, "Hq": hkv * grp, "Hkv": hkv, "Sq": sq,
           "Skv": sq + extra, "D": d, "causal": True, "window": window, "sinks": sinks}
    matches_reference(row, isa, 256, dtype)


@settings(max_examples=8, deadline=None)
@given(hkv=st.integers(1, 2), grp=st.integers(1, 2), nq=st.integers(2, 9),
       nextra=st.integers(0, 2), rq=st.integers(0, 15), wextra=st.integers(0, 40),
       sinks=st.booleans(), isa=st.sampled_from(["rvv+xattn", "rvv+xattn:mmacc",
                                                  "rvv+xattn:mmacc,segred"]))
def test_windowed_tile_prefill_matches_torch(matches_reference, hkv, grp, nq, nextra, rq,
                                             wextra, sinks, isa):
    """The vfwmmacc tile path with a window (16x16 blocks at VLEN 512): windows that are and
    are not multiples of the block, a query tail run as one RVV block."""
    sq = nq * 16 + rq
    row = {"kind": "attention", "B": 1, "Hq": hkv * grp, "Hkv": hkv, "Sq": sq,
           "Skv": sq + nextra * 16, "D": 16, "causal": True, "window": 32 + wextra,
           "sinks": sinks}
    matches_reference(row, isa, 512, "bf16")
    assert lower(row, isa, Core(vlen=512)).counts().by_mnemonic.get("vfwmmacc.vv", 0) > 0


@settings(max_examples=10, deadline=None)
@given(b=st.integers(1, 2), hkv=st.integers(1, 2), grp=st.sampled_from([1, 2, 3, 4, 8]),
       skv=st.integers(1, 60), d=st.sampled_from([8, 16, 64]), isa=ISA,
       vlen=st.sampled_from([128, 256, 512]), dtype=st.sampled_from(["bf16", "fp32"]))
def test_decode_with_sinks_matches_torch(matches_reference, b, hkv, grp, skv, d, isa, vlen,
                                         dtype):
    """GPT-OSS sinks: one more logit per head in the softmax denominator, no value."""
    row = {"kind": "attention", "B": b, "Hq": hkv * grp, "Hkv": hkv, "Sq": 1, "Skv": skv,
           "D": d, "causal": True, "sinks": True}
    matches_reference(row, isa, vlen, dtype)


@settings(max_examples=8, deadline=None)
@given(hkv=st.integers(1, 2), grp=st.integers(1, 2), sq=st.integers(2, 60),
       extra=st.sampled_from([0, 1, 9]), causal=st.booleans(), isa=ISA,
       vlen=st.sampled_from([128, 256, 512]), dtype=st.sampled_from(["bf16", "fp32"]))
def test_prefill_with_sinks_matches_torch(matches_reference, hkv, grp, sq, extra, causal, isa,
                                          vlen, dtype):
    row = {"kind": "attention", "B": 1, "Hq": hkv * grp, "Hkv": hkv, "Sq": sq,
           "Skv": sq + extra, "D": 16, "causal": causal, "sinks": True}
    matches_reference(row, isa, vlen, dtype)


def test_sinks_change_the_output_and_tile_path_keeps_them(matches_reference):
    """The sink term is not lost: the reference with sinks differs from plain attention by
    far more than the tolerance on these inputs, and the tile kernel matches the former."""
    import numpy as np

    from isa.kernels import random_inputs
    from isa.kernels.reference import ref_attention
    row = {"kind": "attention", "B": 1, "Hq": 2, "Hkv": 1, "Sq": 32, "Skv": 32, "D": 16,
           "causal": True, "sinks": True}
    r = matches_reference(row, "rvv+xattn", 512, "bf16")
    inp = random_inputs(lower(row, "rvv+xattn", Core(vlen=512)), row,
                        np.random.default_rng(0))
    with_sinks = ref_attention(row, inp)["O"]
    plain = ref_attention(row, {k: v for k, v in inp.items() if k != "sinks"})["O"]
    assert np.max(np.abs(with_sinks - plain)) / np.max(np.abs(with_sinks)) > 10 * r.tolerance


def _windowed_keys(sq: int, skv: int, br: int, window: int) -> int:
    """Keys the windowed prefill reads per head: for each block of Br queries at position
    p, keys max(0, p + 1 - window) .. p + rows - 1 (RVV path: any alignment)."""
    off = skv - sq
    return sum(off + q0 + min(br, sq - q0) - max(0, off + q0 + 1 - window)
               for q0 in range(0, sq, br))


def test_windowed_prefill_reads_only_keys_inside_the_window():
    """Work is exactly windowed: a 2048-token prefill with window 128 reads ~128 keys per
    query block row, not the causal triangle, and its static size stays compact."""
    for sq, skv, window, vlen in ((2048, 2048, 128, 512), (100, 131, 40, 128),
                                  (300, 300, 64, 256)):
        row = {**_causal_prefill(sq, skv), "window": window}
        p = lower(row, "rvv", Core(vlen=vlen))
        br = vlen // 16
        kloads = sum(n for i, n in p.walk() if i.mem is not None and i.mem.buf == "K")
        assert kloads == 2 * 16 * _windowed_keys(sq, skv, br, window), (sq, skv, window)
    # the loop nest does not grow with Sq: steady blocks share one loop
    sizes = {lower({**_causal_prefill(sq), "window": 128}, "rvv", Core(vlen=512)).static_size()
             for sq in (1024, 8192)}
    assert len(sizes) == 1 and sizes.pop() < 8000


def test_windowed_tile_prefill_visits_only_key_blocks_inside_the_window():
    """Tile path: per query block of 16 (VLEN 512), the key blocks from the one holding
    p + 1 - window up to its diagonal block (K_t = 16, N_t = 8)."""
    sq, window, d = 2048, 128, 64
    row = {"kind": "attention", "B": 1, "Hq": 2, "Hkv": 1, "Sq": sq, "Skv": sq, "D": d,
           "causal": True, "window": window}
    p = lower(row, "rvv+xattn", Core(vlen=512))
    pairs = sum(q0 // 16 - max(0, (q0 + 1 - window) // 16) + 1 for q0 in range(0, sq, 16))
    c = p.counts().by_mnemonic
    # per block pair S: 4 tiles x D/K_t products, PV: 2 tiles x D/N_t
    assert c["vfwmmacc.vv"] == 2 * pairs * (4 * d // 16 + 2 * d // 8)
    assert p.static_size() < 2000


@settings(max_examples=6, deadline=None)
@given(hkv=st.integers(1, 2), grp=st.sampled_from([1, 2, 4]), window=st.integers(1, 40),
       extra=st.integers(1, 30), sinks=st.booleans(), isa=ISA,
       vlen=st.sampled_from([128, 256, 512]), dtype=st.sampled_from(["bf16", "fp32"]))
def test_windowed_decode_matches_torch_and_reads_the_window_only(
        matches_reference, hkv, grp, window, extra, sinks, isa, vlen, dtype):
    """A decode step whose KV cache holds more than the window (Skv > window): the query
    sees the last ``window`` keys, and only those rows of K and V are read (once per KV
    head: the group's query heads share each load)."""
    skv = window + extra
    row = {"kind": "attention", "B": 1, "Hq": hkv * grp, "Hkv": hkv, "Sq": 1, "Skv": skv,
           "D": 16, "causal": True, "window": window, "sinks": sinks}
    matches_reference(row, isa, vlen, dtype)
    kv = {"K": 0, "V": 0}
    for ins, n in lower(row, isa, Core(vlen=vlen, dtype=dtype)).walk():
        if ins.mem is not None and ins.mem.buf in kv:
            kv[ins.mem.buf] += n * (ins.vl or 1)
    assert kv == {"K": hkv * window * 16, "V": hkv * window * 16}


def _refused_window(sq: int, skv: int, d: int, window: int, isa: str, vlen: int,
                    dtype: str) -> bool:
    """Whether lowering must refuse the row (independent of the kernel's code): a prefill
    whose effective window (0 < window < Skv) is narrower than an RVV query block of
    Br = VLMAX(e32, m2) = VLEN/16 rows, unless the vfwmmacc tile path takes it (rvv+xattn,
    BF16, D and Skv - Sq multiples of the tile's K_t, Sq >= K_t, window >= K_t; K_t = 8 up to
    VLEN 256 and 16 above: isa.instructions.tile_geometry), whose query tail is < K_t <= W."""
    if sq == 1 or not 0 < window < skv or window >= vlen // 16:
        return False
    kt = 8 if vlen <= 256 else 16
    tile = (isa == "rvv+xattn" and dtype == "bf16" and d % kt == 0 and sq >= kt
            and (skv - sq) % kt == 0 and window >= kt)
    return not tile


@settings(max_examples=60, deadline=None, derandomize=True)
@given(hkv=st.integers(1, 2), grp=st.sampled_from([1, 2, 4]),
       sq=st.one_of(st.just(1), st.integers(2, 72)), extra=st.sampled_from([0, 3, 8, 16, 33]),
       data=st.data(),
       sinks=st.booleans(), d=st.sampled_from([8, 16, 32]),
       isa=st.sampled_from(["rvv", "rvv+xattn"]), vlen=st.sampled_from([128, 256, 512, 1024]),
       dtype=st.sampled_from(["bf16", "fp32"]))
def test_sliding_window_and_sinks_over_shapes_windows_and_vlen(
        matches_reference, hkv, grp, sq, extra, data, sinks, d, isa, vlen, dtype):
    """Issue #13: sliding-window causal attention, with and without sinks, prefill and decode,
    on RVV and RVV+Xattn at every VLEN, against torch (transformers' sliding-window mask and
    GPT-OSS's sink column). Windows wider than Skv mask nothing; windows narrower than an RVV
    query block are refused with one line naming the window and the block."""
    import pytest

    from isa.errors import IsaError
    skv = sq + extra
    # any width (past Skv: masks nothing), or one an RVV query block of VLEN/16 rows fits in
    wide = st.integers(min(vlen // 16, skv), skv + 8)
    window = data.draw(st.one_of(st.integers(1, skv + 8), wide), label="window")
    row = {"kind": "attention", "B": 1, "Hq": hkv * grp, "Hkv": hkv, "Sq": sq, "Skv": skv,
           "D": d, "causal": True, "window": window, "sinks": sinks}
    if _refused_window(sq, skv, d, window, isa, vlen, dtype):
        with pytest.raises(IsaError) as err:
            lower(row, isa, Core(vlen=vlen, dtype=dtype))
        msg = str(err.value)
        assert "\n" not in msg
        assert msg.startswith(f"sliding window {window} is narrower than a query block of "
                              f"{vlen // 16} rows"), msg
        return
    matches_reference(row, isa, vlen, dtype)
