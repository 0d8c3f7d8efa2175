import sys

from gwalert.cli import main

sys.exit(main())
