"""``python -m mediz_infra``: the ``mediz-infra`` command line (scheduled backups run it)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
