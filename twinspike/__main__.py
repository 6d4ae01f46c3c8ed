import sys

from twinspike.cli import main

sys.exit(main())
