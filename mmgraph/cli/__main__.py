r"""``python -m mmgraph.cli``."""
import sys

from mmgraph.cli.app import main

sys.exit(main())
