"""One page per reported pair: the two submissions' code side by side, the
regions copydetect matched highlighted, and the model figures per part.

The code is the students' text, so every character is escaped (copydetect's
highlight_overlap with escape_html); the page runs no script at all and its
Content-Security-Policy allows none, like the reports. It is linked from the
class summary only: it names both students, so it is for the instructor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from copydetect.utils import highlight_overlap
from markupsafe import Markup, escape

from grader.atomic import atomic_write_text
from grader.integrity import code as code_sim
from grader.integrity.pairs import PAGES_DIR, ClassIntegrity, Pair, page_name, part_to_dict
from grader.report.templating import render

PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
MARK_OPEN, MARK_CLOSE = '<mark class="match">', "</mark>"


@dataclass
class CodeColumn:
    student: str
    archive: str
    similarity: float | None
    html: Markup                       # escaped code, matches in <mark>
    files: list[str] = field(default_factory=list)


@dataclass
class LayerRow:
    name: str
    shape: str
    cosine: float
    norms: tuple[float, float]


@dataclass
class PartSection:
    part: str
    figures: dict
    columns: list[CodeColumn] = field(default_factory=list)
    layers: list[LayerRow] = field(default_factory=list)


def highlighted(text: str, slices) -> Markup:
    """The text escaped, with the matched regions (2 x n starts/ends) in <mark>."""
    if slices is None or slices.shape[1] == 0:
        return Markup(escape(text))
    html, _ = highlight_overlap(text, slices, MARK_OPEN, MARK_CLOSE, escape_html=True)
    return Markup(html)


def _columns(result: ClassIntegrity, pair: Pair, part: str) -> list[CodeColumn]:
    documents = result.documents.get(part, {})
    match = pair.parts[part].code
    columns = []
    for side, index in enumerate((pair.left, pair.right)):
        document = documents.get(index)
        if document is None:
            continue
        evidence = result.evidence[index]
        columns.append(CodeColumn(
            student=evidence.student.display, archive=evidence.archive,
            similarity=match.similarity[side] if match is not None else None,
            html=highlighted(document.text, match.slices[side] if match is not None else None),
            files=[path for _, path in document.files]))
    return columns


def _layers(pair: Pair, part: str) -> list[LayerRow]:
    weights = pair.parts[part].weights
    if weights is None:
        return []
    return [LayerRow(name, "×".join(str(d) for d in shape) or "scalar", cosine, (left, right))
            for name, shape, cosine, left, right in weights.layer_cosines]


def render_pair(result: ClassIntegrity, pair: Pair, part_ids: list[str]) -> str:
    left, right = result.evidence[pair.left], result.evidence[pair.right]
    sections = [PartSection(part, part_to_dict(pair.parts[part]), _columns(result, pair, part), _layers(pair, part))
                for part in code_sim.part_order(list(pair.parts), part_ids)]
    return render("integrity_pair.html.j2", left=left, right=right, sections=sections,
                  settings=result.settings, csp=PAGE_CSP)


def write_pages(result: ClassIntegrity, out_dir: Path, part_ids: list[str]) -> list[Path]:
    """Every pair's page; pages of pairs no longer reported are removed."""
    folder = Path(out_dir) / PAGES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for pair in result.pairs:
        path = folder / page_name(result.evidence, pair)
        atomic_write_text(path, render_pair(result, pair, part_ids))
        written.append(path)
    for stale in folder.glob("*.html"):
        if stale not in written:
            stale.unlink(missing_ok=True)
    return written
