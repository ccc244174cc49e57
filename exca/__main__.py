"""``python -m exca``: the ``exca`` command (:mod:`exca.cli`)."""

import sys

from .cli import main

sys.exit(main())
