"""<option> lists of hundreds of choices, rendered once per data version, then marked.

The library's filters offer every station, deployment and species: over a thousand options at a
park's size. Escaping and rendering them through the template cost more than the rest of the
page, on every request. They are rendered here once, kept with the figures (tracker.figures,
invalidated by any change to the data), and each request only marks the chosen one.
"""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape

OPTION = Markup('<option value="{}">{}</option>')


def render(pairs: Iterable[tuple[object, object]]) -> Markup:
    """`<option value="v">label</option>` for each (value, label), escaped."""
    return Markup("").join(OPTION.format(value, label) for value, label in pairs)


def choose(options: Markup, value: str | None) -> Markup:
    """The options with `value`'s marked selected (none when it is not among them)."""
    if not value:
        return options
    needle = f'<option value="{escape(value)}">'
    # str.replace: Markup's own would escape the needle and never find it.
    marked = str(options).replace(needle, needle[:-1] + " selected>", 1)
    return Markup(marked)  # noqa: S704 -- escaped markup with one attribute added
