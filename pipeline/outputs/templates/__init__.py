"""Jinja2 templates of the report and the map pages' own parts, with autoescape on.

Every value from the data goes into a page through a template variable, which Jinja escapes
(``{{ name }}``); no markup is built by hand in Python. :func:`render` renders one template.

>>> render("panel_test.html", text="<b>x</b>")  # doctest: +SKIP
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

__all__ = ["FOLDER", "environment", "render"]

FOLDER = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The templates' environment: autoescape for every template, undefined names an error."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(FOLDER),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = _num
    return env


def _num(value) -> str:
    """A whole number with thin-space thousands; '—' for a missing one."""
    if value is None or value != value:
        return "—"
    return f"{round(value):,}".replace(",", "\u202f")


def render(name: str, **context) -> str:
    """The template `name` (a path inside this folder) rendered with `context`."""
    return environment().get_template(name).render(**context)
