"""``python -m fastxai ...`` (also what ``torchrun -m fastxai bench CONFIG`` runs)."""
import sys

from fastxai.cli import main

sys.exit(main())
