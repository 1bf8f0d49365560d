import sys

from pyetwkit.cli import main

sys.exit(main())
