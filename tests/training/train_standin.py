"""Run `vidsynth train` with the stand-in networks registered (used by the subprocess tests)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import standins  # noqa: E402,F401  (registers the stand-in models)

import torch  # noqa: E402

torch.set_num_threads(1)

from vidsynth.training.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
