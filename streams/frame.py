"""The one record that flows through a pipeline.

It lives in ``streams`` (the lowest layer) because sources create frames; ``vidsynth.engine`` re-exports it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any


@dataclass
class Frame:
    """One video frame with its timing and the conditions extracted from it.

    ``image`` is H×W×3 uint8 RGB (numpy) as decoded, or a tensor once a stage moved it to a device.
    ``pts`` counts ``time_base`` units; output is muxed by pts, so variable-frame-rate input stays in sync.
    ``capture_ns`` is ``time.monotonic_ns()`` when the frame was captured (live latency).
    ``discontinuity`` marks a new stream, a scene cut, a seek or a resume: stateful stages reset on it.
    ``conditions`` holds what extractors add, keyed by name (``pose``, ``face``, ``person_mask``,
    ``labels``, ``flow``, ``depth``, ``camera``, ...).

    >>> f = Frame(index=0, pts=0, time_base=Fraction(1, 30), image=None)
    >>> f.time
    0.0
    """

    index: int
    pts: int
    time_base: Fraction
    image: Any
    conditions: dict[str, Any] = field(default_factory=dict)
    capture_ns: int = field(default_factory=time.monotonic_ns)
    discontinuity: bool = False
    duration: int | None = None  # in time_base units, when the source knows it
    name: str | None = None  # the source's own name for the frame (an image file's stem), kept in datasets

    @property
    def time(self) -> float:
        """Presentation time in seconds."""
        return float(self.pts * self.time_base)

    def with_image(self, image: Any) -> "Frame":
        """A copy carrying another image (conditions dict shared shallowly)."""
        return replace(self, image=image, conditions=dict(self.conditions))
