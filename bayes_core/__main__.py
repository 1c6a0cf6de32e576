import sys

from bayes_core.cli import main

sys.exit(main())
