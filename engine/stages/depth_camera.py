"""The depth map and camera of each frame, for world-consistent rendering."""

from __future__ import annotations

from vidsynth.errors import VidsynthError

from ..stage import Stage


class DepthAndCameras(Stage):
    """Attaches ``depth`` and ``camera`` to each frame for world-consistent rendering.

    Depth comes from a :class:`~vidsynth.geometry.depth_io.DepthReader` by frame index. Cameras come from
    a cameras JSON file or, without one, from odometry (Open3D point-to-plane ICP against a local map of
    the previous frames, RGB-D odometry as the first guess) with intrinsics from a horizontal field of view.
    """

    def __init__(self, depth: str, depth_scale: float | None = None, cameras: str | None = None,
                 hfov: float = 60.0):
        from vidsynth.geometry.depth_io import DepthReader

        self.depth = DepthReader(depth, scale=depth_scale)
        self.track = None
        if cameras is not None:
            from vidsynth.geometry.camera import read_cameras

            self.track = read_cameras(cameras, expected_count=len(self.depth))
        self.hfov = hfov
        self._odometry = None  # poses from depth (and RGB) when no cameras file is given

    def reset(self) -> None:
        if self._odometry is not None:
            self._odometry.reset()

    def process(self, frame):
        from vidsynth.geometry.camera import Camera, Intrinsics

        if frame.index >= len(self.depth):
            raise VidsynthError(f"frame {frame.index} has no depth map: --depth holds {len(self.depth)}; give one "
                                "depth map per input frame")
        depth = self.depth[frame.index]
        if self.track is not None:
            camera = self.track.camera(frame.index)
        else:
            if self._odometry is None:
                from vidsynth.geometry.odometry import Odometry

                self._odometry = Odometry(Intrinsics.from_fov(depth.shape[1], depth.shape[0], self.hfov))
            rgb = frame.image if frame.image is not None and frame.image.shape[:2] == depth.shape else None
            camera = Camera(self._odometry.K, self._odometry.update(depth, rgb))
        frame.conditions["depth"] = depth
        frame.conditions["camera"] = camera
        return frame
