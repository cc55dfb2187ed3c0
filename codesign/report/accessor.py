"""``result.plot``: the report's figures bound to one Result (for notebooks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from codesign.result import Result


class ResultPlot:
    """``res.plot.roofline()``, ``res.plot.timeline()``, ``res.plot.breakdown()``,
    ``res.plot.speedup(others)`` (this Result is the baseline), ``res.plot.chrome_trace()``."""

    def __init__(self, result: Result) -> None:
        self._result = result

    def roofline(self) -> go.Figure:
        from codesign.report.figures import roofline

        return roofline(self._result)

    def timeline(self) -> go.Figure:
        from codesign.report.figures import timeline

        return timeline(self._result)

    def breakdown(self, *others: Result, normalize: bool = False) -> go.Figure:
        from codesign.report.figures import breakdown

        return breakdown([self._result, *others], normalize=normalize)

    def speedup(self, others: Result | Sequence[Result]) -> go.Figure:
        from codesign.report.figures import speedup
        from codesign.result import Result

        rest = [others] if isinstance(others, Result) else list(others)
        return speedup([self._result, *rest], baseline=self._result.target)

    def chrome_trace(self) -> dict[str, Any]:
        from codesign.report.timeline import to_chrome_trace

        return to_chrome_trace(self._result)
