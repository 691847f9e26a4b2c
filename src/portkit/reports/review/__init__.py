"""Review formats: one self-contained HTML page, a pull-request Markdown summary, and
msFmkTransplt-style CSV files. Each is a pure function of the one `Report` model (plus, for the
HTML, the original and migrated text of changed files when the caller has them), so their
totals are the JSON report's totals. docs/reports.md describes the formats.

- `render_html(report, sources=None)`: the whole review in one file that opens from disk: no
  network, inline CSS and JS. Totals and per-rule tables are plain HTML; the file list, the
  diffs and the manual-item list are built by the page's script from JSON embedded in
  `<script type="application/json">` blocks, one block per file, parsed only when that file is
  expanded, so a 2,000-file run opens at once.
- `render_markdown(report)`: totals, a table by rule, the manual items as a checklist and
  collapsed per-file diffs, capped at `MARKDOWN_LIMIT` characters.
- `write_csv_dir(report, directory)`: msFmkTransplt's six CSV files (`CSV_FILES`), manual
  items routed by `CSV_ROUTES`.

Modules: `formats` (which format a target names), `effort` (the order of manual items),
`syntax` (Python syntax highlighting), `hunks` (what a diff shows), `page` (the HTML, with its
skeleton, style sheet and script in assets/), `markdown` and `csv_files`; `common` holds what
they share.
"""

from __future__ import annotations

# __all__, and (as before the modules were split) their other public names and the internals
# tests/test_review.py reaches: _entries, _hunks, _hunks_from_report, _script_json
from portkit.reports.review.common import SAFETY_ORDER, Entry, Sources, _entries, _listed
from portkit.reports.review.csv_files import (
    ADVICE_COLUMNS, CHANGE_COLUMNS, CHANGE_LIST, CSV_FILES, CSV_ROUTES, CUDA_OPS, PERFORMANCE, PRECISION,
    UNKNOWN, UNSUPPORTED, csv_file_for, csv_rows, write_csv_dir,
)
from portkit.reports.review.effort import DEFAULT_EFFORT, EFFORT_WEIGHTS, EffortGroup, effort_groups
from portkit.reports.review.formats import report_format
from portkit.reports.review.syntax import Token, highlight
from portkit.reports.review.hunks import ADD, CONTEXT_LINES, CTX, DEL, _hunks, _hunks_from_report
from portkit.reports.review.markdown import MARKDOWN_LIMIT, render_markdown
from portkit.reports.review.page import _script_json, render_html

__all__ = [
    "CHANGE_COLUMNS", "ADVICE_COLUMNS", "CSV_FILES", "CSV_ROUTES", "EFFORT_WEIGHTS", "MARKDOWN_LIMIT",
    "csv_file_for", "effort_groups", "highlight", "render_html", "render_markdown", "report_format",
    "write_csv_dir",
]
