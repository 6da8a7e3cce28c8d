import sys

from historian.server.cli import main

sys.exit(main())
