"""Fixtures for the stream tests (tests/ has no packages, so helpers are handed out as fixtures)."""

import numpy as np
import pytest

from vidsynth.streams.mp4 import Mp4Sink
from vidsynth.streams.synthetic.clip import SyntheticClip


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean()
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _write_clip(path, clip: SyntheticClip, **sink_options) -> Mp4Sink:
    sink = Mp4Sink(path, **sink_options)
    sink.open(clip.open())
    for frame in clip:
        sink.write(frame)
    sink.close()
    return sink


@pytest.fixture
def psnr():
    """PSNR in dB of two uint8 images."""
    return _psnr


@pytest.fixture
def write_clip():
    """``write_clip(path, clip, **Mp4Sink options) -> sink``: the whole clip written as MP4."""
    return _write_clip


@pytest.fixture
def clip_file(tmp_path):
    """A 30-frame constant-rate stamped clip as H.264 MP4 (GOP 10)."""
    clip = SyntheticClip(n_frames=30, width=64, height=48, fps=30)
    path = tmp_path / "clip.mp4"
    _write_clip(path, clip, gop=10)
    return path, clip
