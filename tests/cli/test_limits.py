"""Scenario limits and what the program says about itself: a prompt or KV cache beyond the
model's maximum context is refused in one line before tracing (not traced and timed as if
the model could run it); --version names the installed version."""

from __future__ import annotations

import pytest

from codesign.cli import main


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "qwen3.5-9b", "-t", "h100-sxm", "--phase", "decode", "--context", "100000000"],
     "context 100,000,000 is beyond the maximum context of 'qwen3.5-9b': 262,144 tokens"),
    (["trace", "qwen3.5-9b", "--seq", "10000000"],
     "seq 10,000,000 is beyond the maximum context of 'qwen3.5-9b': 262,144 tokens"),
])
def test_a_context_beyond_the_models_maximum_is_one_line_exit_2(capsys, monkeypatch, argv,
                                                                 message):
    import workloads.extract

    def refuse(*_a, **_k):
        raise AssertionError("traced a scenario beyond the model's context")

    monkeypatch.setattr(workloads.extract, "trace", refuse)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_version_prints_the_installed_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"codesign {version('codesign')}\n"
