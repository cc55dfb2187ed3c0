"""The on-disk trace cache: a warm request returns the same trace without importing torch,
and anything a trace depends on changing is a miss."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codesign import api
from codesign.cli import main
from workloads import cache

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny-qwen3.5.json"


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("CODESIGN_CACHE_DIR", str(d))
    return d


def _frames_equal(a, b) -> None:
    assert a.meta == b.meta
    assert a.ops.equals(b.ops)


def test_a_warm_request_returns_the_same_trace_from_disk(cache_dir):
    first = api.trace(str(TINY), phase="decode", context=64)
    assert cache.info().entries == 1
    _frames_equal(api.trace(str(TINY), phase="decode", context=64), first)
    _frames_equal(api.trace(str(TINY), phase="decode", context=64, cache=False), first)
    api.trace(str(TINY), phase="decode", context=65)  # another scenario: another entry
    api.trace(str(TINY), phase="decode", context=64, routing="zipf:1.0")  # another option
    assert cache.info().entries == 3


def test_a_warm_run_never_imports_torch(cache_dir):
    code = ("import sys; from codesign import api; "
            f"api.trace({str(TINY)!r}, phase='prefill', seq=32); "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    env = {**os.environ, "CODESIGN_CACHE_DIR": str(cache_dir)}
    cold = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    assert cold.stdout.split() == ["True", "True"]
    assert warm.stdout.split() == ["False", "False"]


def test_a_changed_model_config_or_extraction_code_misses(cache_dir, tmp_path, monkeypatch):
    cfg = tmp_path / "model" / "config.json"
    cfg.parent.mkdir()
    cfg.write_text(TINY.read_text())
    k1 = cache.key(str(cfg), "prefill", 1, 32, None, {})
    api.trace(str(cfg), phase="prefill", seq=32)
    assert cache.get(k1) is not None
    raw = json.loads(cfg.read_text())
    text = raw.get("text_config", raw)
    text["intermediate_size"] = text["intermediate_size"] * 2
    cfg.write_text(json.dumps(raw))
    k2 = cache.key(str(cfg), "prefill", 1, 32, None, {})
    assert k2 != k1 and cache.get(k2) is None
    wider = api.trace(str(cfg), phase="prefill", seq=32)
    assert wider.ops["flops"].sum() > cache.get(k1).ops["flops"].sum()
    monkeypatch.setattr(cache, "code_version", lambda: "another extraction code")
    assert cache.key(str(cfg), "prefill", 1, 32, None, {}) != k2


def test_a_damaged_entry_is_a_miss_and_is_rewritten(cache_dir):
    api.trace(str(TINY), phase="prefill", seq=16)
    (entry,) = cache.trace_dir().glob("*.parquet")
    entry.write_bytes(b"not parquet")
    k = entry.stem
    assert cache.get(k) is None
    api.trace(str(TINY), phase="prefill", seq=16)
    assert cache.get(k) is not None


def test_cache_info_and_clear(cache_dir, capsys):
    api.trace(str(TINY), phase="prefill", seq=16)
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert "traces" in out and "1 entries" in out and str(cache_dir) in out
    assert main(["cache", "clear"]) == 0
    assert cache.info().entries == 0
    with pytest.raises(SystemExit) as bad:
        main(["cache", "bogus"])
    assert bad.value.code == 2


@pytest.mark.parametrize("enabled", [True, False])
def test_extraction_runs_without_cyclic_gc_and_restores_it(cache_dir, monkeypatch, enabled):
    """Issue #12: no cyclic collection while torch and transformers are imported and the
    trace is extracted; the collector's state is as it was afterwards, even on an error."""
    import gc

    import workloads.extract

    seen = []
    real = workloads.extract.trace

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)
    monkeypatch.setattr(workloads.extract, "trace", spy)
    (gc.enable if enabled else gc.disable)()
    try:
        api.trace(str(TINY), phase="decode", context=64, cache=False)
        assert seen == [False] and gc.isenabled() == enabled
        with pytest.raises(Exception, match="routing"):
            api.trace(str(TINY), phase="decode", context=64, cache=False, routing="nope")
        assert seen == [False, False] and gc.isenabled() == enabled  # (failed in extraction)
    finally:
        gc.enable()
