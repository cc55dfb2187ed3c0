"""Plotted reports of Results and sweeps: figures for notebooks, the HTML report of
``codesign report``, and the Chrome/Perfetto timeline of ``codesign run --timeline``.

```python
import codesign as cd
from codesign import report
fig = report.speedup([res_rvv, res_xattn, res_gpu])   # a plotly Figure
res_xattn.plot.roofline()                             # the same, bound to one Result
report.write_report(["results.c950-like.parquet", ...], "report.html")
```
"""

from codesign.report.density import density, density_table
from codesign.report.figures import (
    breakdown,
    breakdown_table,
    caption,
    heatmap,
    pareto,
    roofline,
    roofline_points,
    speedup,
    speedup_table,
    timeline,
)
from codesign.report.inputs import Roofs, cost, load, pareto_mask, results_table, roofs
from codesign.report.page import Report, build, render, write_report
from codesign.report.timeline import spans, to_chrome_trace, write_chrome_trace

__all__ = [
    "Report", "Roofs", "breakdown", "breakdown_table", "build", "caption", "cost", "density",
    "density_table", "heatmap",
    "load", "pareto", "pareto_mask", "render", "results_table", "roofline", "roofline_points",
    "roofs", "spans", "speedup", "speedup_table", "timeline", "to_chrome_trace",
    "write_chrome_trace", "write_report",
]
