"""``python -m falcana_core`` is the ``falcana`` command."""

from falcana_core.cli import main

main()
