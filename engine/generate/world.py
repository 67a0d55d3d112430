"""A world-consistent model (``describe().kind == "world_consistent"``) as a stage that owns its world
and closes the loop inside itself.

For frame t: render the guidance (the world's colours projected into frame t's camera), step the
generator with it, then add frame t's generated colours to the world, where a point that already has a
colour keeps it. Guidance comes from depth + camera (``frame.conditions['depth']`` and ``['camera']``,
vidsynth's online world) or from imaginaire's precomputed pixel → 3D point maps
(``frame.conditions['unprojection']``), so imaginaire's own test data runs unchanged.
"""

from __future__ import annotations

from vidsynth.errors import VidsynthError

from ..fitting import Placement
from .video import VideoGenerator, VideoGeneratorConfig


class WorldConsistentGenerator(VideoGenerator):
    """A :class:`VideoGenerator` for world-consistent models, with the world inside.

    ``world`` is a :class:`vidsynth.geometry.guidance.WorldGuidance` (a fresh one by default). The
    frames are fitted with ``resize`` so that the guidance, rendered for the whole camera view at the
    model's size, lines up with the generated image.
    """

    def __init__(self, model, config: VideoGeneratorConfig | None = None, world=None, save_world: str | None = None):
        config = config or VideoGeneratorConfig(fit="resize")
        if config.fit not in ("resize", "auto"):
            raise VidsynthError(f"world-consistent rendering needs --fit resize (the guidance covers the whole "
                                f"camera view), found --fit {config.fit}")
        super().__init__(model, config)
        if world is None:
            from vidsynth.geometry.guidance import WorldGuidance

            world = WorldGuidance()
        self.world = world
        self.save_world = save_world  # where close() writes the world's snapshot (``vidsynth world export``)
        self._unprojection = None
        self.counters["guidance_coverage"] = 0.0  # mean share of the frame the guidance covered

    def snapshot(self) -> dict:
        state = super().snapshot()
        state["world"] = self.world.state_dict()  # the coloured points the guidance comes from
        return state

    def restore(self, state: dict) -> None:
        state = dict(state)
        self.world.load_state_dict(state.pop("world"))
        super().restore(state)

    def reset(self) -> None:
        super().reset()
        self.world.reset()
        if self._unprojection is not None:
            self._unprojection.reset()

    def step_conditions(self, frame, placement: Placement) -> dict:
        conditions = super().step_conditions(frame, placement)
        conditions["guidance"] = self._guidance(frame).to(self.config.device)
        n = self.counters["generated"]
        coverage = float(conditions["guidance"][:, 3].mean())
        self.counters["guidance_coverage"] = (self.counters["guidance_coverage"] * n + coverage) / (n + 1)
        return conditions

    def _guidance(self, frame):
        h, w = self.size
        if "unprojection" in frame.conditions:
            from vidsynth.geometry.imaginaire_unprojection import UnprojectionGuidance

            if self._unprojection is None:
                self._unprojection = UnprojectionGuidance()
            return self._unprojection.guidance(frame.conditions["unprojection"], h, w)
        missing = [k for k in ("depth", "camera") if k not in frame.conditions]
        if missing:
            raise VidsynthError(f"frame {frame.index} has no {' or '.join(missing)}: world-consistent rendering "
                                "needs a depth map and a camera per frame (--depth and --cameras, or a synthetic "
                                "street source), or imaginaire's unprojection files")
        return self.world.guidance(frame.conditions["depth"], frame.conditions["camera"], size=(h, w))

    def close(self) -> None:
        if self.save_world:
            save_world_snapshot(self.world.world, self.save_world)

    def after_step(self, frame, placement: Placement, outputs: dict) -> None:
        if "unprojection" in frame.conditions:
            self._unprojection.update(outputs["image"], frame.conditions["unprojection"])
        else:
            self.world.update(outputs["image"])


def save_world_snapshot(world, path: str) -> None:
    """Write a :class:`~vidsynth.geometry.world.PointWorld` snapshot atomically (temp file, then rename)."""
    import os

    import torch

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    torch.save(world.state_dict(), tmp)
    os.replace(tmp, path)


def export_world(snapshot: str, ply: str, include_uncoloured: bool = False) -> int:
    """A render's world snapshot → ``.ply`` for any point-cloud viewer; returns the number of points."""
    import os

    import torch

    from vidsynth.geometry.world import PointWorld

    if not os.path.isfile(snapshot):
        raise VidsynthError(f"world snapshot {snapshot!r} does not exist; render with a world-consistent model and "
                            "--world-out FILE (by default OUTPUT.world.pt beside the video) first")
    try:
        state = torch.load(snapshot, weights_only=True, map_location="cpu")
    except Exception as exc:
        raise VidsynthError(f"could not read world snapshot {snapshot!r} ({exc}); expected a file written by "
                            "vidsynth render with a world-consistent model") from None
    world = PointWorld()
    world.load_state_dict(state)
    return world.to_ply(ply, include_uncoloured=include_uncoloured)
