"""Regenerate docs/schema.md from knox_analytics/schema.py (tests/test_schema_doc.py checks it)."""

from pathlib import Path

from knox_analytics.schema import schema_markdown

if __name__ == "__main__":
    target = Path(__file__).parents[1] / "docs" / "schema.md"
    target.write_text(schema_markdown())
    print(f"wrote {target}")
