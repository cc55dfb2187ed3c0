"""Typed hardware configurations: dataclass fields with help, unit and source.

Every hardware model (the RISC-V core, the GPU) describes itself as nested frozen
dataclasses whose fields are declared with :func:`param`. From that one declaration come:

- presets as TOML files (``codesign/presets/<family>/<name>.toml``), read by
  :func:`from_dict`, which refuses unknown keys and wrong types;
- overrides by dotted path (``vector.dlen=512``) for the CLI's ``--set``, Python keyword
  overrides and sweep axes: :func:`override`;
- a stable fingerprint for memoization: :func:`fingerprint`;
- a help table for ``codesign targets --fields``: :func:`describe`;
- the values each numeric field accepts (a :class:`Range`; finite, and non-negative
  unless the field says otherwise), checked wherever a value enters: presets, overrides.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from codesign.errors import CodesignError

C = TypeVar("C")


@dataclass(frozen=True)
class Range:
    """The values a numeric field accepts: finite numbers between ``lo`` and ``hi``.

    A NaN or infinite hardware parameter never means anything, so finiteness is not
    optional; the bounds are closed unless ``lo_open``/``hi_open`` say otherwise.
    """

    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False

    def __contains__(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        return above and below

    def __str__(self) -> str:
        lo = f"{self.lo:g}"
        hi = f"{self.hi:g}"
        if math.isinf(self.hi):
            return f"{'>' if self.lo_open else '>='} {lo}"
        if math.isinf(self.lo):
            return f"{'<' if self.hi_open else '<='} {hi}"
        return f"in {'(' if self.lo_open else '['}{lo}, {hi}{')' if self.hi_open else ']'}"


# The ranges most fields use. Counts, widths and sizes of things that must exist are at
# least one; rates (bandwidths, clocks) are positive; latencies and costs may be zero.
NON_NEGATIVE = Range(lo=0.0)
POSITIVE = Range(lo=0.0, lo_open=True)
AT_LEAST_ONE = Range(lo=1.0)
FRACTION = Range(lo=0.0, hi=1.0, lo_open=True)  # an efficiency: some, at most all
UNIT_INTERVAL = Range(lo=0.0, hi=1.0)  # a share that may be none


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def param(default: Any, help: str, unit: str = "", source: str = "",
          valid: Range | None = None) -> Any:
    """Declare a config field with its help text, unit, the source of its default and,
    for a number, the range of values it accepts (default :data:`NON_NEGATIVE`)."""
    if valid is None and _is_number(default):
        valid = NON_NEGATIVE
    meta = {"help": help, "unit": unit, "source": source, "valid": valid}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def section(cls: Callable[[], Any], help: str) -> Any:
    """Declare a nested config section (a dataclass field holding another dataclass)."""
    return dataclasses.field(default_factory=cls, metadata={"help": help, "unit": "", "source": "",
                                                            "valid": None})


def valid_range(f: dataclasses.Field[Any]) -> Range | None:
    """The range a field's numbers must lie in (None: not a numeric field). A field
    declared outside this package (``isa.timing.TimingParams``) without one gets the
    default rule: a number is finite and non-negative."""
    if "valid" in f.metadata:
        return f.metadata["valid"]
    return NON_NEGATIVE if _is_number(f.default) else None


def derived_from(f: dataclasses.Field[Any]) -> str | None:
    """Where a derived field's value is declared (``vector.vlen``), or None. A config
    fills derived fields itself; presets and overrides set them at that place."""
    return f.metadata.get("derived")


def _settable(cls: Any) -> Mapping[str, dataclasses.Field[Any]]:
    """A config class's (or a config's) fields that are not derived, by name (read-only:
    one mapping per class, as a sweep point renders its config several times, #12)."""
    t = cls if isinstance(cls, type) else type(cls)
    got = _SETTABLE.get(t)
    if got is None:
        got = _SETTABLE[t] = types.MappingProxyType(
            {f.name: f for f in dataclasses.fields(t) if derived_from(f) is None})
    return got


_SETTABLE: dict[type, Mapping[str, dataclasses.Field[Any]]] = {}


def _check_range(f: dataclasses.Field[Any], value: Any, path: str) -> None:
    """Refuse a NaN, an infinity or an out-of-range number, naming the field and its range."""
    valid = valid_range(f)
    if valid is None or not _is_number(value) or value in valid:
        return
    unit = f" {f.metadata['unit']}" if f.metadata.get("unit") else ""
    raise CodesignError(f"{path} = {value!r}: must be a finite number {valid}{unit}")


def _coerce_field(f: dataclasses.Field[Any], typ: Any, value: Any, path: str) -> Any:
    """``value`` converted to the field's type and checked against its range."""
    out = coerce(value, typ, path)
    _check_range(f, out, path)
    return out


def _field_types(cls: type) -> dict[str, Any]:
    """The class's resolved field annotations (read only: the dict is shared), once per
    class: resolving them costs more than the override that asks (issue #12)."""
    hints = _FIELD_TYPES.get(cls)
    if hints is None:
        hints = _FIELD_TYPES[cls] = typing.get_type_hints(cls)
    return hints


_FIELD_TYPES: dict[type, dict[str, Any]] = {}


def coerce(value: Any, typ: Any, path: str) -> Any:
    """Convert ``value`` (from TOML or a CLI string) to ``typ`` or raise a clear error."""
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        return coerce(value, args[0], path)
    if origin is tuple:
        (inner, *_rest) = typing.get_args(typ)
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(coerce(v.strip() if isinstance(v, str) else v, inner, path)
                     for v in items if v != "")
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        raise CodesignError(f"{path}: expected true or false, got {value!r}")
    if typ is int:
        if isinstance(value, bool):
            raise CodesignError(f"{path}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value), 0)
        except ValueError:
            raise CodesignError(f"{path}: expected an integer, got {value!r}") from None
    if typ is float:
        if isinstance(value, bool):
            raise CodesignError(f"{path}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise CodesignError(f"{path}: expected a number, got {value!r}") from None
    if typ is str:
        if not isinstance(value, str):
            raise CodesignError(f"{path}: expected a string, got {value!r}")
        return value
    if dataclasses.is_dataclass(typ):
        if not isinstance(value, Mapping):
            raise CodesignError(f"{path}: expected a table of fields, got {value!r}")
        return from_dict(typ, value, prefix=f"{path}.")  # type: ignore[arg-type]
    raise CodesignError(f"{path}: unsupported field type {typ!r}")


def from_dict(cls: type[C], data: Mapping[str, Any], prefix: str = "") -> C:
    """Build config ``cls`` from a (TOML) mapping; unknown keys and bad types are errors."""
    types_ = _field_types(cls)
    fields = _settable(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data and derived_from(f):
            raise CodesignError(f"{prefix + f.name} is set by {derived_from(f)}, not here")
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise CodesignError(
            f"unknown config field {prefix + unknown[0]!r}; valid: {', '.join(fields)}"
        )
    kwargs = {k: _coerce_field(fields[k], types_[k], v, f"{prefix}{k}") for k, v in data.items()}
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if check is not None:
        check()
    return obj


META_KEYS = ("description", "sources", "assumed", "unverified")
"""What a preset's ``[meta]`` table may hold: prose about the preset, never a parameter
(TOML puts every key after ``[meta]`` into that table until the next header)."""


def load_toml(cls: type[C], path: str | Path) -> tuple[C, dict[str, Any]]:
    """Read a preset file: returns the config and the file's ``[meta]`` table."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise CodesignError(f"preset {str(path)!r} is not valid TOML: {exc}") from None
    meta = data.pop("meta", {})
    unknown = sorted(set(meta) - set(META_KEYS))
    if unknown:
        raise CodesignError(f"preset {str(path)!r}: [meta] has no field {unknown[0]!r} (a "
                            f"config field belongs above [meta] or in its section); valid "
                            f"[meta] fields: {', '.join(META_KEYS)}")
    return from_dict(cls, data, prefix=""), meta


def paths(cfg: Any, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field[Any], Any]]:
    """Every leaf field as (dotted path, field, value)."""
    for f in _settable(cfg).values():
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            yield from paths(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", f, value


def get(cfg: Any, path: str) -> Any:
    """The value at a dotted path."""
    obj = cfg
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def field_type(cfg: Any, path: str) -> Any:
    """The declared type of the settable field at a dotted path, or None if ``path`` names
    no field (or names a section)."""
    obj, parts = cfg, path.split(".")
    for i, part in enumerate(parts):
        if not dataclasses.is_dataclass(obj) or part not in _settable(obj):
            return None
        if i == len(parts) - 1:
            return None if dataclasses.is_dataclass(getattr(obj, part)) \
                else _field_types(type(obj))[part]
        obj = getattr(obj, part)
    return None


def type_name(typ: Any) -> str:
    """``bool``, ``int``, ``float`` or ``str``: the scalar a field holds (an optional
    field's inner type; anything else reads as a string)."""
    if typing.get_origin(typ) in (typing.Union, types.UnionType):
        typ = next(a for a in typing.get_args(typ) if a is not type(None))
    return {bool: "bool", int: "int", float: "float"}.get(typ, "str")


def override(cfg: C, overrides: Mapping[str, Any]) -> C:
    """A copy of ``cfg`` with fields replaced by dotted path (``{"vector.dlen": 512}``).

    String values are parsed to the field's type, so CLI ``--set`` values work as they are.
    """
    if not overrides:
        return cfg
    nested: dict[str, Any] = {}
    for path, value in overrides.items():
        *heads, last = path.split(".")
        node = nested
        for part in heads:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise CodesignError(f"override {path!r} conflicts with another override")
        if isinstance(node.get(last), dict):
            raise CodesignError(f"override {path!r} conflicts with another override")
        node[last] = _Leaf(value)
    return _apply(cfg, nested, "")


class _Leaf:
    def __init__(self, value: Any) -> None:
        self.value = value


def _apply(cfg: Any, nested: Mapping[str, Any], prefix: str) -> Any:
    types_ = _field_types(type(cfg))
    fields = _settable(cfg)
    changes: dict[str, Any] = {}
    for name, sub in nested.items():
        if name not in fields:
            valid = [p for p, _, _ in paths(cfg, prefix)]
            raise CodesignError(
                f"unknown override path {prefix + name!r}; valid: {', '.join(valid)}"
            )
        current = getattr(cfg, name)
        if isinstance(sub, _Leaf):
            if dataclasses.is_dataclass(current):
                raise CodesignError(
                    f"override path {prefix + name!r} is a section; name one of its fields: "
                    + ", ".join(p for p, _, _ in paths(current, f"{prefix}{name}."))
                )
            changes[name] = _coerce_field(fields[name], types_[name], sub.value, prefix + name)
        else:
            if not dataclasses.is_dataclass(current):
                raise CodesignError(
                    f"unknown override path {prefix + name + '.' + next(iter(sub))!r}: "
                    f"{prefix + name!r} is a field, not a section"
                )
            changes[name] = _apply(current, sub, f"{prefix}{name}.")
    new = dataclasses.replace(cfg, **changes)
    check = getattr(new, "check", None)
    if check is not None:
        check()
    return new


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain nested dicts (tuples become lists), as :func:`from_dict` reads
    it back: derived fields are left out (their values live where they are declared).
    A fresh dict on every call (callers may change it)."""
    return json.loads(_memo(cfg, "_codesign_json", _json_text))


def _json_text(cfg: Any) -> str:
    def plain(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj):
            return {name: plain(getattr(obj, name)) for name in _settable(obj)}
        return obj
    return json.dumps(plain(cfg), default=list)


def fingerprint(cfg: Any) -> str:
    """A stable short hash of every field value: equal configs, equal fingerprints."""
    return _memo(cfg, "_codesign_fingerprint", _fingerprint)


def _fingerprint(cfg: Any) -> str:
    blob = json.dumps(
        {"type": type(cfg).__qualname__, "fields": to_dict(cfg)}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _memo(cfg: Any, attr: str, compute: Callable[[Any], str]) -> str:
    """``compute(cfg)``, kept on ``cfg`` itself when it is a frozen dataclass (its fields
    never change, and :func:`dataclasses.replace` builds a new object without the memo):
    a sweep point derives its config's text and fingerprint several times (issue #12)."""
    value = getattr(cfg, "__dict__", {}).get(attr)
    if value is None:
        value = compute(cfg)
        params = getattr(type(cfg), "__dataclass_params__", None)
        if params is not None and params.frozen and hasattr(cfg, "__dict__"):
            object.__setattr__(cfg, attr, value)
    return value


def describe(cfg: Any) -> list[dict[str, Any]]:
    """One dict per leaf field: path, value, unit, valid range, help, source (for tables
    and docs)."""
    return [
        {"path": p, "value": v, "unit": f.metadata.get("unit", ""),
         "valid": str(valid_range(f) or ""),
         "help": f.metadata.get("help", ""), "source": f.metadata.get("source", "")}
        for p, f, v in paths(cfg)
    ]
