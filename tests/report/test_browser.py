"""Open report.html in headless Chromium: every figure renders (a plotly div with its SVG
inside), the page logs nothing to the console (no JavaScript error), and a screenshot is
saved under the pytest tmp dir (and copied to /tmp/codesign-report.png).

Chromium is driven by its own command line (--dump-dom after a virtual-time budget, console
messages through --enable-logging=stderr). Skipped only when chromium is not installed
(Debian: apt-get install chromium chromium-driver).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from codesign.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

# Chromium prints every console message of the page as `...:CONSOLE:<line>] "message"`; a
# report page logs nothing, so any such line (an uncaught error above all) is a failure.
CONSOLE = re.compile(r":CONSOLE(?::\d+)?\(?\d*\)?\] (.*)")


class _PlotCounter(HTMLParser):
    """Counts elements of class js-plotly-plot, and those with an svg.main-svg inside."""

    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
                      "meta", "source", "track", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, int | None]] = []  # (tag, index of the plot it opens)
        self.plots: list[bool] = []  # per plot: has an SVG rendered inside

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "svg" and "main-svg" in classes:
            for _, idx in self.stack:
                if idx is not None:
                    self.plots[idx] = True
        opened = None
        if "js-plotly-plot" in classes:
            self.plots.append(False)
            opened = len(self.plots) - 1
        if tag not in self.VOID:
            self.stack.append((tag, opened))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break


def _chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}",
           "--virtual-time-budget=20000", *args, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def render(page: Path, tmp: Path) -> tuple[int, int, list[str]]:
    """(plots in the page, plots with a rendered SVG, console messages)."""
    proc = _chromium(page, tmp / "profile", "--enable-logging=stderr", "--v=0",
                     "--window-size=1280,2000", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    parser = _PlotCounter()
    parser.feed(proc.stdout)
    console = [m.group(1) for m in map(CONSOLE.search, proc.stderr.splitlines()) if m]
    return len(parser.plots), sum(parser.plots), console


def test_console_errors_are_detected(tmp_path):
    # the check below must be able to fail: a page with an uncaught error is caught
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><div class='js-plotly-plot'></div>"
                   "<script>undefinedFunction();</script></body></html>")
    plots, rendered, console = render(bad, tmp_path)
    assert (plots, rendered) == (1, 0)
    assert any("Uncaught ReferenceError" in c for c in console)


def test_report_renders_in_chromium(result_files, tmp_path):
    page = tmp_path / "report.html"
    report = write_report(result_files, page)
    plots, rendered, console = render(page, tmp_path)
    assert len(report.figures) >= 10
    assert plots == rendered == len(report.figures)
    assert console == []
    shot = tmp_path / "report.png"
    proc = _chromium(page, tmp_path / "profile", "--window-size=1280,7000",
                     f"--screenshot={shot}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    shutil.copy(shot, "/tmp/codesign-report.png")
