"""Start-up: ``codesign --help`` loads neither pandas, pyarrow, numpy nor torch (issue #12
item 5); the lazily loaded package names still resolve to what they were."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

# runs the CLI as `python -m codesign ARGS` does, then lists the heavy modules it loaded
PROBE = """
import runpy, sys
sys.argv = ["codesign", *sys.argv[1:]]
try:
    runpy.run_module("codesign", run_name="__main__")
except SystemExit as exc:
    code = exc.code
heavy = ("pandas", "pyarrow", "numpy", "torch", "transformers", "simpy", "isa")
print("LOADED", sorted(m for m in heavy if m in sys.modules), code, file=sys.stderr)
"""


def _loaded(*args: str) -> tuple[list[str], str]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                         text=True, timeout=120)
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("LOADED")][-1]
    return ast.literal_eval(line.split(" ", 1)[1].rsplit(" ", 1)[0]), line.rsplit(" ", 1)[1]


@pytest.mark.parametrize("args", [["--help"], ["sweep", "--help"], ["trace", "--help"],
                                  ["kernel", "--help"], ["cache", "--help"]])
def test_help_imports_no_heavy_module(args):
    loaded, code = _loaded(*args)
    assert code in ("0", "None")
    assert loaded == [], f"`codesign {' '.join(args)}` imported {loaded}"


def test_lazy_package_names_are_the_api():
    """``codesign.sweep`` stays the function even when the subpackage is imported first
    (the import system binds a subpackage to its parent's attribute)."""
    code = ("from codesign.sweep.spec import load_spec\n"
            "import codesign.sweep.runner\n"
            "import codesign as cd, codesign.api as api, codesign.errors as e\n"
            "from codesign.sweep import sweep\n"
            "from codesign.sweep.explore import explore\n"
            "from codesign.result import Result\n"
            "from workloads.schema import Trace\n"
            "from isa.errors import IsaError\n"
            "from workloads.errors import WorkloadError\n"
            "assert cd.sweep is sweep and callable(cd.sweep)\n"
            "assert cd.simulate is api.simulate and cd.trace is api.trace\n"
            "assert cd.explore is explore and cd.Result is Result and cd.Trace is Trace\n"
            "assert cd.CodesignError is e.CodesignError\n"
            "assert e.USER_ERRORS == (e.CodesignError, WorkloadError, IsaError)\n"
            "import workloads\n"
            "assert workloads.Trace is Trace and workloads.WorkloadError is WorkloadError\n"
            "assert set(cd.__all__) <= set(dir(cd))\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        import codesign
        codesign.nothing  # noqa: B018


def test_a_user_error_is_still_one_line(capsys):
    """USER_ERRORS is looked up only when a command fails: still caught, exit 2."""
    from codesign.cli import main
    assert main(["targets", "--fields", "no-such-target"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("codesign targets: error:") and len(err.strip().splitlines()) == 1


def test_the_fast_exit_delivers_all_output_and_the_exit_code(tmp_path):
    """`python -m codesign` ends with os._exit after flushing: a piped table arrives
    whole, a user error still exits 2, and a file the command writes is complete."""
    ok = subprocess.run([sys.executable, "-m", "codesign", "targets", "--format", "json"],
                        capture_output=True, text=True, timeout=120)
    rows = json.loads(ok.stdout)
    assert ok.returncode == 0 and {r["name"] for r in rows} >= {"c950-like", "h100-sxm"}
    bad = subprocess.run([sys.executable, "-m", "codesign", "targets", "--fields", "nope"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown target 'nope'" in bad.stderr
    # an exit handler registered by the command's code still runs
    code = ("import atexit, sys\n"
            f"atexit.register(lambda: open({str(tmp_path / 'ran')!r}, 'w').write('yes'))\n"
            "sys.argv = ['codesign', 'targets', '--family', 'gpu']\n"
            "from codesign.cli import entry\n"
            "entry()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "h100-sxm" in out.stdout
    assert (tmp_path / "ran").read_text() == "yes"
