"""``python -m knox_analytics`` runs the ``knox`` command."""

from knox_analytics.cli.main import run

run()
