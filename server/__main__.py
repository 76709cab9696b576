"""``python -m server`` runs the companion server."""

import sys

from server.cli import main

sys.exit(main())
