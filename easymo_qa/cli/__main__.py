"""``python -m easymo_qa.cli``: the same as ``easymo-qa``."""

import sys

from easymo_qa.cli import main

sys.exit(main())
