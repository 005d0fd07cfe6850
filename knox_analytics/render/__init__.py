"""Rendering decoded records: praudit-compatible text and XML, and JSON Lines.

The renderers take decoded Arrow tables (:data:`knox_analytics.schema.SCHEMA`) and return
bytes; they never open files.  :func:`render_stream` drives them over the chunks that
:func:`knox_analytics.bsm.reader.read_trail` yields.

Example::

    >>> from knox_analytics.render import PrintOptions, render_table
    >>> from knox_analytics.schema import SCHEMA
    >>> render_table(SCHEMA.empty_table(), PrintOptions())
    b''
"""

from __future__ import annotations

from knox_analytics.render.praudit import XML_FOOTER, XML_HEADER, render_table
from knox_analytics.render.tokenfmt import Ctx, PrintOptions

__all__ = ["XML_FOOTER", "XML_HEADER", "Ctx", "PrintOptions", "render_table"]
