"""The Jinja2 environment for the HTML reports: autoescape always on."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from grader.report import formatting


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("grader.report", "templates"),
        autoescape=True,          # every value from a submission is escaped
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        points=formatting.points,
        metric=formatting.metric,
        percent=formatting.percent,
        plain=formatting.plain,
        humanize=formatting.humanize_key,
        flag=formatting.flag,
    )
    # Our own stylesheet, inlined so each report is one self-contained file.
    env.globals["stylesheet"] = Markup(template_source("report.css"))
    return env


def render(template_name: str, **context: object) -> str:
    return environment().get_template(template_name).render(**context)


def template_source(name: str) -> str:
    """A template file's raw text (CSS, our own script), not rendered."""
    loader = PackageLoader("grader.report", "templates")
    source, _, _ = loader.get_source(Environment(), name)
    return source


def csp_hash(script: str) -> str:
    """The Content-Security-Policy source that allows exactly this inline script."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"
