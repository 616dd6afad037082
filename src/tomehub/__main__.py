"""``python -m tomehub`` runs the command line."""

from tomehub.cli import app

app()
