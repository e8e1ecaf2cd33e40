import sys

from tests.load.chaos.run import main

sys.exit(main())
