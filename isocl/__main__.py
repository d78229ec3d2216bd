"""``python -m isocl``: the ``isocl`` command (isocl.cli)."""

import sys

from isocl.cli import main

if __name__ == "__main__":
    sys.exit(main())
