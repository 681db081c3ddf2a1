"""``python -m wtctl.hook pre-tool-use``: the same as ``wtctl hook pre-tool-use``."""

import sys

from wtctl.hook import main

sys.exit(main())
