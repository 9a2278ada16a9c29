"""An executed notebook as a static HTML page the report can link, with none of
the student's markup able to run.

The notebook was written by the student's code, so it is hostile input. Before
nbconvert sees it, every output keeps only plain text, PNG/JPEG images and
HTML/Markdown (which nbconvert's ``sanitize_html`` cleans); JavaScript, SVG,
widget views and raw cells are dropped. After rendering, the template's own
``<script>`` tags (CDN loaders for MathJax and require.js) are removed and a
Content-Security-Policy that forbids every script and remote load is put first
in ``<head>``, so even markup that slipped through cannot run or call home.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

KEPT_MIME_TYPES = ("text/plain", "image/png", "image/jpeg", "text/html", "text/markdown", "text/latex")
ATTACHMENT_MIME_TYPES = ("image/png", "image/jpeg")
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
                           "base-uri 'none'; form-action 'none'")
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.IGNORECASE | re.DOTALL)
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)


def safe_copy(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy holding only what may be shown: see the module's docstring."""
    notebook = copy.deepcopy(notebook)
    notebook.metadata.pop("widgets", None)
    cells = []
    for cell in notebook.cells:
        kind = cell.get("cell_type")
        if kind == "raw":
            continue
        if "attachments" in cell:
            cell["attachments"] = {
                name: {mime: data for mime, data in (bundle or {}).items() if mime in ATTACHMENT_MIME_TYPES}
                for name, bundle in (cell.get("attachments") or {}).items()
            }
        if kind == "code":
            cell["outputs"] = [_safe_output(o) for o in cell.get("outputs", []) if _shown(o)]
        cells.append(cell)
    notebook.cells = cells
    return notebook


def _shown(output: dict) -> bool:
    kind = output.get("output_type")
    if kind in ("stream", "error"):
        return True
    return kind in ("execute_result", "display_data") and any(m in (output.get("data") or {}) for m in KEPT_MIME_TYPES)


def _safe_output(output: dict) -> dict:
    if output.get("output_type") in ("execute_result", "display_data"):
        output["data"] = {mime: value for mime, value in (output.get("data") or {}).items() if mime in KEPT_MIME_TYPES}
        output["metadata"] = {}
    return output


def render_html(notebook: nbformat.NotebookNode, title: str) -> str:
    """The page's HTML text."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", sanitize_html=True, exclude_raw=True, embed_images=False)
    body, _ = exporter.from_notebook_node(safe_copy(notebook), resources={"metadata": {"name": title}})
    body = _SCRIPT.sub("", body)
    policy = f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
    if _HEAD.search(body):
        return _HEAD.sub(lambda match: match.group(0) + policy, body, count=1)
    return policy + body


def write_html(notebook_path: Path, html_path: Path, title: str) -> Path:
    """Render an executed notebook file (already size-checked) to ``html_path``, atomically."""
    from grader.atomic import atomic_write_bytes

    notebook = nbformat.reads(notebook_path.read_text(encoding="utf-8", errors="replace"), as_version=4)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(html_path, render_html(notebook, title).encode("utf-8"))
    return html_path
