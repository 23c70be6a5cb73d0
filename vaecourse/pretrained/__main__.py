"""``python -m vaecourse.pretrained``: see :mod:`vaecourse.pretrained.cli`."""

import sys

from vaecourse.pretrained.cli import main

sys.exit(main())
