"""``python -m shakenkit.cli``: the ``shakenkit`` command."""

from . import main

raise SystemExit(main())
