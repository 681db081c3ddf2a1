import sys

from wtctl.cli import main

sys.exit(main())
