"""``python -m tui`` runs the talkterm app."""

import sys

from tui.cli import main

sys.exit(main())
