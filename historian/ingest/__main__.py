import sys

from historian.ingest.service import main

sys.exit(main())
