"""`python -m evals.emulator ARGS` (what EmulatorProcess runs)."""

import sys

from evals.emulator.cli import main

sys.exit(main(sys.argv[1:]))
