"""``python -m deepnotes ...``: the command line (also what ``torchrun -m deepnotes`` starts)."""

import sys

from deepnotes.cli import main

if __name__ == "__main__":
    sys.exit(main())
