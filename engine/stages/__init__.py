"""Small stages the jobs wire around the extractors and generators.

- :class:`Resize`, :class:`KeepImage`, :class:`SideBySide` (:mod:`.picture`): scale the picture, keep a
  copy of it under a condition key, lay drawn conditions out beside it;
- :class:`DepthAndCameras` (:mod:`.depth_camera`): each frame's depth map and camera, for
  world-consistent models.
"""

from .depth_camera import DepthAndCameras
from .picture import KeepImage, Resize, SideBySide

__all__ = ["Resize", "KeepImage", "SideBySide", "DepthAndCameras"]
