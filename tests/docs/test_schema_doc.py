"""docs/schema.md is generated from knox_analytics/schema.py and must stay in step."""

from __future__ import annotations

from knoxtest import ROOT

from knox_analytics.schema import SCHEMA, schema_markdown

DOC = ROOT / "docs" / "schema.md"


def test_schema_doc_is_current() -> None:
    assert DOC.read_text() == schema_markdown(), (
        "docs/schema.md is stale: run `python tools/gen_schema_doc.py`")


def test_every_column_is_documented() -> None:
    for field in SCHEMA:
        meta = field.metadata or {}
        assert meta.get(b"doc") and meta.get(b"source"), field.name
