"""``python -m ratapprox`` runs the command-line front end (:func:`ratapprox.cli.main`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
