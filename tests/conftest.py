"""Shared test set-up: a small thread budget so the suite fits 2 cores, and common fixtures."""

import os
import signal

os.environ.setdefault("OMP_NUM_THREADS", "1")
# Ctrl-C tests need Python's KeyboardInterrupt; a shell starts background jobs (nohup ... &) with SIGINT
# ignored, which children inherit and which would make those tests fail for a reason outside vidsynth.
signal.signal(signal.SIGINT, signal.default_int_handler)

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
