import sys

from tssd.cli import main

sys.exit(main())
