"""Data Docs that open on a closed council network: nothing fetched from the internet.

Great Expectations' pages load Bootstrap, jQuery and its table plug-in from
public CDNs. Offline, the validation and suite pages keep their content (it is
plain HTML) but lose their styling, and the index page stays empty: its table
is filled in by that plug-in. A page that calls out to a CDN from inside a
council network is also a page that tells a third party when it was opened.

So, after GX has built the docs, every reference to a resource elsewhere is
removed, a small stylesheet is written into each page, and the index is
replaced by a static page made from the gate's results (counts only) with
links to each suite's validation and expectation pages.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from expectations.runner import GateResult

_REMOTE = re.compile(
    r"""<script[^>]*\bsrc=["']https?://[^"']*["'][^>]*>\s*</script>"""
    r"""|<link[^>]*\bhref=["']https?://[^"']*["'][^>]*>"""
    r"""|<img[^>]*\bsrc=["']https?://[^"']*["'][^>]*>""",
    re.IGNORECASE | re.DOTALL,
)

STYLE = """<style id="sfmatch-offline">
body { font-family: system-ui, -apple-system, "Segoe UI", Arial, sans-serif; margin: 1.5rem; color: #1b1b1b; }
table { border-collapse: collapse; margin: 0.75rem 0; }
th, td { border: 1px solid #c8c8c8; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
.failed { color: #a4000f; font-weight: 600; } .passed { color: #1a6b2c; } .warned { color: #8a5300; }
.text-success { color: #1a6b2c; } .text-danger { color: #a4000f; }
code, pre { background: #f6f6f6; padding: 0.1rem 0.3rem; }
</style>"""


def strip_remote(page: str) -> str:
    """The page without anything it would fetch from another site, and with the offline stylesheet."""
    page = _REMOTE.sub("", page)
    return page.replace("<head>", "<head>\n" + STYLE, 1) if "sfmatch-offline" not in page else page


def _first(folder: Path, pattern: str) -> Path | None:
    found = sorted(folder.glob(pattern))
    return found[-1] if found else None


def index_page(title: str, docs_dir: Path, results: dict[str, GateResult]) -> str:
    rows = []
    for name, result in results.items():
        failures, warnings = len(result.blocking_failures), len(result.warnings)
        status, css = (("Failed", "failed") if failures else ("Passed with warnings", "warned") if warnings
                       else ("Passed", "passed"))
        validation = _first(docs_dir / "validations" / name, "**/*.html")
        suite = docs_dir / "expectations" / f"{name}.html"
        links = []
        if validation is not None:
            links.append(f'<a href="{html.escape(validation.relative_to(docs_dir).as_posix())}">results</a>')
        if suite.exists():
            links.append(f'<a href="{html.escape(suite.relative_to(docs_dir).as_posix())}">expectations</a>')
        rows.append(f"<tr><td>{html.escape(name)}</td><td class=\"{css}\">{status}</td>"
                    f"<td>{result.rows:,}</td><td>{len(result.outcomes)}</td><td>{failures}</td><td>{warnings}</td>"
                    f"<td>{' · '.join(links)}</td></tr>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}: Data Docs</title>\n{STYLE}\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        "<p>Great Expectations validation results for this run, as counts. Every page here opens without a "
        "network connection.</p>\n<table>\n<thead><tr><th>suite</th><th>status</th><th>rows</th>"
        "<th>expectations</th><th>blocking failures</th><th>warnings</th><th>pages</th></tr></thead>\n<tbody>\n"
        + "\n".join(rows) + "\n</tbody>\n</table>\n</body>\n</html>\n"
    )


def make_offline(docs_dir: Path, title: str, results: dict[str, GateResult]) -> None:
    """Rewrite the built Data Docs in `docs_dir` so that no page fetches anything from the network."""
    for page in docs_dir.rglob("*.html"):
        page.write_text(strip_remote(page.read_text(encoding="utf-8")), encoding="utf-8")
    (docs_dir / "index.html").write_text(index_page(title, docs_dir, results), encoding="utf-8")
