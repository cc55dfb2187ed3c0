"""Every numeric config field has a valid range, refused outside it wherever a value enters:
``--set`` on the command line, Python keyword overrides, and preset files."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign import cli, targets
from codesign import config as C
from codesign.config import Range
from codesign.errors import CodesignError

# One target of each family: every numeric field of each config is reached through it.
TARGETS = ("c950-like", "h100-sxm")


def _numeric_fields() -> list[tuple[str, str, type, Range]]:
    """(target, dotted path, int or float, range) of every numeric leaf field."""
    out = []
    for name in TARGETS:
        for path, f, value in C.paths(targets.resolve(name).config):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out.append((name, path, type(value), C.valid_range(f)))
    return out


FIELDS = _numeric_fields()
IDS = [f"{t}:{p}" for t, p, _, _ in FIELDS]


def _outside(typ: type, valid: Range) -> float | int:
    """A finite value just outside ``valid`` (below it where it has a lower bound)."""
    if math.isfinite(valid.lo):
        value = valid.lo if valid.lo_open else valid.lo - 1
    else:
        value = valid.hi if valid.hi_open else valid.hi + 1
    return typ(value)


def test_every_numeric_field_declares_a_range_its_preset_value_lies_in() -> None:
    assert len(FIELDS) > 80  # both families' configs, not an empty walk
    for name, path, _, valid in FIELDS:
        assert valid is not None, f"{name}: {path} has no valid range"
        assert C.get(targets.resolve(name).config, path) in valid, (name, path)


@pytest.mark.parametrize(("name", "path", "typ", "valid"), FIELDS, ids=IDS)
def test_nan_infinity_and_out_of_range_overrides_are_refused_naming_the_field(
        name: str, path: str, typ: type, valid: Range) -> None:
    bad = ["nan", "inf", "-inf", str(_outside(typ, valid))]
    for value in bad:
        with pytest.raises(CodesignError, match=rf"^{re.escape(path)}\b") as err:
            targets.resolve(name, {path: value})
        # an int field refuses "nan" as not an integer; a float field names its range
        assert value in str(err.value) or repr(float(value)) in str(err.value)
    # a Python keyword override with a number (not a string) is refused the same way
    expected = rf"^{re.escape(path)} = .*must be a finite number {re.escape(str(valid))}"
    with pytest.raises(CodesignError, match=expected):
        targets.resolve(name, {path: _outside(typ, valid)})


def _bad_value(typ: type, valid: Range) -> st.SearchStrategy[str]:
    """Strings that must be refused: non-finite, or finite and outside ``valid``."""
    non_finite = st.sampled_from(["nan", "inf", "-inf", "NaN", "+inf"])
    has_lo, has_hi = math.isfinite(valid.lo), math.isfinite(valid.hi)
    if typ is int:
        below = st.integers(max_value=math.floor(valid.lo) if valid.lo_open
                            else math.ceil(valid.lo) - 1) if has_lo else st.nothing()
        above = st.integers(min_value=math.ceil(valid.hi) if valid.hi_open
                            else math.floor(valid.hi) + 1) if has_hi else st.nothing()
        return non_finite | (below | above).map(str)
    below = st.floats(max_value=valid.lo, exclude_max=not valid.lo_open, allow_nan=False,
                      allow_infinity=False) if has_lo else st.nothing()
    above = st.floats(min_value=valid.hi, exclude_min=not valid.hi_open, allow_nan=False,
                      allow_infinity=False) if has_hi else st.nothing()
    return non_finite | (below | above).map(repr)


@st.composite
def _field_and_bad_value(draw: st.DrawFn) -> tuple[str, str, str]:
    name, path, typ, valid = draw(st.sampled_from(FIELDS))
    return name, path, draw(_bad_value(typ, valid))


# capsys is read (and so emptied) in every example, so sharing it across examples is safe
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_field_and_bad_value())
def test_cli_set_refuses_any_bad_value_with_exit_2_and_one_line(
        capsys: pytest.CaptureFixture[str], case: tuple[str, str, str]) -> None:
    name, path, value = case
    # the target resolves before the trace is read: the trace file need not exist
    code = cli.main(["run", "never-read.parquet", "--target", name, "--set", f"{path}={value}"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"error: {path}" in err


@pytest.mark.parametrize(("path", "value", "message"), [
    ("scalar.freq_ghz", "nan", "must be a finite number > 0 GHz"),
    ("dram.latency_ns", "-100.0", "must be a finite number >= 0 ns"),
    ("sim.bound_threshold", "5.0", r"must be a finite number in \(0, 1\]"),
    ("memory.l1_ports", "3", r"must be a finite number in \[1, 2\]"),
])
def test_a_preset_file_with_a_bad_value_is_refused_naming_the_field(
        tmp_path, path: str, value: str, message: str) -> None:
    from codesign.riscv.config import RiscvConfig

    section, field = path.split(".")
    preset = tmp_path / "bad.toml"
    preset.write_text(f"[{section}]\n{field} = {value}\n")
    with pytest.raises(CodesignError, match=rf"^{path} = .*{message}"):
        C.load_toml(RiscvConfig, preset)


def test_max_iterations_must_leave_room_for_two_steady_state_windows() -> None:
    with pytest.raises(CodesignError, match=r"sim.max_iterations = 8: must be >= 2 \* "
                                            r"sim.window \+ 1 = 9"):
        targets.resolve("c950-like", {"sim.window": 4, "sim.max_iterations": 8})
    assert targets.resolve("c950-like", {"sim.window": 4, "sim.max_iterations": 9})


@pytest.mark.parametrize("name", ["c950-like+xattn:", "c950-like+xattn:,"])
def test_an_empty_xattn_subset_is_an_error_not_all_of_xattn(name: str) -> None:
    with pytest.raises(CodesignError, match="names no xattn item after ':'"):
        targets.resolve(name)
    with pytest.raises(CodesignError, match="names no xattn item after ':'"):
        targets.resolve("c950-like", {"isa": name.replace("c950-like", "rvv")})
