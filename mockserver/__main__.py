"""Allows ``python -m mockserver``, the same as the ``mockserver`` command."""

import sys

from mockserver.serving.cli import main

# Guarded: worker processes may import this module again as __mp_main__.
if __name__ == "__main__":
    sys.exit(main())
