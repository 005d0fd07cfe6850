"""Paths and command lines hold any Unicode (CJK file names, emoji): draw them with a list
of fonts, and escape what none of them can draw rather than leave boxes.

matplotlib (>= 3.6) falls back glyph by glyph along a list of families: :data:`FALLBACK`
names DejaVu Sans (always there: matplotlib ships it) and then fonts that cover other
scripts, as installed on macOS, Linux (Noto, WenQuanYi) or Windows; only the installed
ones are used.  A character that no installed font has would be drawn as an empty box
(tofu) with one warning per glyph; it is written as its escape (``\\u4e2d``) instead, and
the picture says so (:func:`fit_figure`).
"""

from __future__ import annotations

import functools
from typing import Any

from matplotlib import font_manager
from matplotlib.ticker import FixedFormatter, FuncFormatter

#: Families tried in order for each glyph (monochrome outline fonts only: matplotlib
#: cannot draw colour-bitmap emoji fonts such as Apple Color Emoji).
FALLBACK = ("DejaVu Sans",
            # CJK
            "Noto Sans CJK JP", "Noto Sans CJK SC", "Source Han Sans", "Hiragino Sans",
            "PingFang SC", "WenQuanYi Zen Hei", "Droid Sans Fallback", "Microsoft YaHei",
            "Arial Unicode MS",
            # other scripts and symbols
            "Noto Sans", "Noto Sans Symbols", "Noto Sans Symbols 2", "Noto Emoji", "Symbola")
#: Said on a picture where a character was escaped.
ESCAPED_NOTE = "characters no installed font can draw are written as \\u escapes"


@functools.cache
def families() -> tuple[str, ...]:
    """The families of :data:`FALLBACK` installed here (DejaVu Sans at least)."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return tuple(f for f in FALLBACK if f in installed) or ("DejaVu Sans",)


@functools.cache
def drawable() -> frozenset[int]:
    """The code points some font of :func:`families` has a glyph for."""
    from matplotlib.ft2font import FT2Font

    points: set[int] = set()
    for family in families():
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=family),
                                         fallback_to_default=False)
            points.update(FT2Font(path).get_charmap())
        except (ValueError, RuntimeError, OSError):  # listed, yet not loadable
            continue
    return frozenset(points)


def fit(text: str) -> str:
    """``text`` with each character no installed font can draw written as its escape
    (``\\u4e2d``, ``\\U0001f600``); line breaks stay."""
    have = drawable()
    if all(ord(c) in have or c == "\n" for c in text):
        return text
    return "".join(c if ord(c) in have or c == "\n"
                   else (f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
                   for c in text)


def fit_figure(fig: Any) -> bool:
    """Give every text of ``fig`` the fallback fonts and escape what they cannot draw
    (fixed tick labels too: their formatter writes them again at each draw); the first
    time something is escaped, the picture's title (and ``fig.knox_note``) says so.
    Returns whether anything was escaped.  Idempotent: escapes are ASCII."""
    from matplotlib.text import Text

    escaped = False
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            escaped |= _fit_labels(axis)
    for text in fig.findobj(Text):
        text.set_fontfamily(list(families()))
        before = text.get_text()
        after = fit(before)
        if after != before:
            text.set_text(after)
            escaped = True
    if escaped and not getattr(fig, "knox_escaped", False):
        fig.knox_escaped = True
        note = getattr(fig, "knox_note", None)
        fig.knox_note = f"{note}; {ESCAPED_NOTE}" if note else ESCAPED_NOTE
        if fig.axes:
            title = fig.axes[0].title
            title.set_text(f"{title.get_text()}\n({ESCAPED_NOTE})".lstrip("\n"))
    return escaped


def _fit_labels(axis: Any) -> bool:
    """Make the labels an axis was given by hand (``set_yticks(ticks, labels)``: a
    fixed or function formatter) pass through :func:`fit` each time they are written;
    whether any needs it.  Number and date formatters are left as they are."""
    formatter = axis.get_major_formatter()
    if not isinstance(formatter, (FixedFormatter, FuncFormatter)):
        return False
    if not getattr(formatter, "knox_fitted", False):
        fitted = FuncFormatter(lambda x, pos=None: fit(str(formatter(x, pos))))
        fitted.knox_fitted = True  # type: ignore[attr-defined]
        axis.set_major_formatter(fitted)
    return any(fit(str(formatter(x, i))) != str(formatter(x, i))
               for i, x in enumerate(axis.get_ticklocs()))
