import sys

from chatmem.cli import main

sys.exit(main())
