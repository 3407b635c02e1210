"""``python -m derive …`` runs the command line, as the ``derive`` command does."""
from .cli import main

main()
