"""The program IR: compact loop nests, counts without expansion, asm, timing view."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isa import Affine, Builder, Core, F, IsaError, Loop, TimingParams, V, parse_isa
from isa.kernels import lower


def _axpy(n, vlen=512):
    b = Builder("axpy", parse_isa("rvv"), vlen)
    b.buffer("x", "fp32", n)
    b.buffer("y", "fp32", n, role="inout")
    b.emit("flw", F(1), b.const(2.0))
    vl = b.vsetvli(n, 32, 8)
    with b.loop("i", n // vl, ptrs=2) as i:
        b.emit("vle32.v", V(8), b.mem("x", i * vl))
        b.emit("vle32.v", V(16), b.mem("y", i * vl))
        b.emit("vfmacc.vf", V(16), F(1), V(8))
        b.emit("vse32.v", V(16), b.mem("y", i * vl))
    return b.program()


def test_counts_of_a_billion_iterations_without_expanding():
    n = 128 * 10**9
    p = _axpy(n)
    c = p.counts()
    trips = n // 128
    assert c.by_mnemonic["vfmacc.vf"] == trips
    assert c.by_mnemonic["vle32.v"] == 2 * trips
    assert c.by_unit["load"] == 2 * trips and c.by_unit["store"] == trips
    assert c.by_unit["scalar"] == 3 * trips + 2  # 2 addi + bne per trip, flw, vsetvli
    assert c.total == 7 * trips + 2
    assert p.static_size() == 9


def test_asm_is_readable_assembly():
    text = _axpy(256).asm()
    assert "loop i = 0..1:" in text
    assert "vfmacc.vf v16, f1, v8" in text
    assert "vle32.v v8, (x[128*i])" in text
    assert "vsetvli x5, 256, e32, m8, ta, ma" in text


def test_timing_view_of_loop_body():
    p = _axpy(256)
    loop = next(n for n in p.body if isinstance(n, Loop))
    ts = [ins.timing(TimingParams(dlen=256)) for ins in loop.body]
    fma = ts[2]
    assert fma.unit == "fma" and fma.vsrc == tuple(range(16, 24)) + tuple(range(8, 16))
    assert fma.vdst == tuple(range(16, 24)) and fma.fsrc == (1,)
    assert fma.occupancy == 16 and fma.latency == 8  # 128*32/256 element groups
    assert ts[0].mem == "load" and ts[0].mem_bytes == 512 and ts[3].mem == "store"
    wide = [i.timing(TimingParams(dlen=512)) for i in loop.body][2]
    assert wide.occupancy == 8  # double DLEN halves occupancy


def test_affine_and_signature():
    a = Affine(3) + Builder.var("i") * 4 + Builder.var("j")
    assert a.eval({"i": 2, "j": 5}) == 16
    assert str(a) == "4*i+j+3"
    with pytest.raises(IsaError, match="outside its loop"):
        a.eval({"i": 1})
    assert _axpy(256).signature() == _axpy(256).signature() != _axpy(512).signature()


def test_tails_are_separate_code_with_their_own_vl():
    p = lower({"kind": "elementwise", "op": "add", "M": 1, "N": 100}, "rvv",
              Core(vlen=256, dtype="fp32"))
    vls = sorted({ins.vl for ins, _ in p.walk() if ins.vl})
    assert vls == [4, 16]  # main strips of VLMAX=16 (e32, m2) and one tail of 4


def test_loop_reestablishes_vtype_at_back_edge():
    b = Builder("t", parse_isa("rvv"), 256)
    b.buffer("x", "fp32", 64)
    b.vsetvli(8, 32, 1)
    with b.loop("i", 3):
        b.emit("vle32.v", V(1), b.mem("x", b.var("i") * 8))
        b.vsetvli(4, 32, 1)
        b.emit("vle32.v", V(2), b.mem("x", 0))
    loop = b.program().body[-1]
    assert loop.body[0].op == "vsetvli" and loop.body[0].vl == 8


# ---- Affine arithmetic: the fast paths give what the general rule gives ----------------------
def _add_rule(a: Affine, other) -> Affine:
    """Affine addition as its general rule states it: sum the coefficients per variable,
    drop the zero ones, sort by variable."""
    o = other if isinstance(other, Affine) else Affine(int(other))
    acc = dict(a.terms)
    for v, c in o.terms:
        acc[v] = acc.get(v, 0) + c
    return Affine(a.const + o.const, tuple(sorted((v, c) for v, c in acc.items() if c)))


_terms = st.lists(st.tuples(st.sampled_from("ijkm"), st.integers(-3, 3)), max_size=4).map(tuple)
_affines = st.builds(Affine, st.integers(-100, 100), _terms)  # normal or not


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_affines, st.one_of(st.integers(-100, 100), _affines))
def test_affine_add_follows_the_general_rule(a, other):
    got, want = a + other, _add_rule(a, other)
    assert got == want and repr(got) == repr(want)
    if not isinstance(other, Affine):  # int + Affine: __radd__
        assert other + a == want


@settings(max_examples=200, deadline=None, derandomize=True)
@given(_affines, st.integers(-4, 4))
def test_affine_mul_follows_the_general_rule(a, k):
    want = Affine(a.const * k, tuple((v, c * k) for v, c in a.terms if c * k))
    assert a * k == want and repr(a * k) == repr(want)


def test_operand_reads_each_role_of_every_instruction():
    """``Instr.operand`` and ``.mem`` (through ``InstrDef.role_index``) return the argument
    in the role's first position of every defined instruction, None for a role it lacks."""
    from isa.instructions import all_instructions
    from isa.program import Instr
    for name, d in all_instructions().items():
        ins = Instr(name, tuple(f"arg{i}" for i in range(len(d.operands))))
        for role in (*d.operands, "mem", "no-such-role"):
            want = f"arg{d.operands.index(role)}" if role in d.operands else None
            assert ins.operand(role) == want, (name, role)
        assert ins.mem == ins.operand("mem")


def test_instr_hash_is_the_value_hash_and_not_pickled():
    # the kept hash (#12) is the dataclass's hash of all fields; a pickled instruction
    # leaves it behind (str hashes differ between processes) and hashes anew, equal
    import pickle

    ins = next(n for n in _axpy(1024).body if isinstance(n, Loop)).body[0]
    fields = (ins.op, ins.args, ins.vl, ins.vtype, ins.masked, ins.comment)
    assert hash(ins) == hash(fields)
    assert "_hash" in ins.__dict__
    back = pickle.loads(pickle.dumps(ins))
    assert "_hash" not in back.__dict__
    assert back == ins and hash(back) == hash(ins)
    assert {ins: 1}[back] == 1
