"""`make bench`: the endpoint's overhead over running the same executable directly."""

from __future__ import annotations

import sys

from .endpoint_overhead import main

sys.exit(main(sys.argv[1:]))
