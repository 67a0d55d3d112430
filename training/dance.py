"""A personal dancer from a few minutes of one person's footage (Everybody Dance Now's recipe, on vid2vid).

:func:`prepare_dance_data` finds the target person in every frame (the same person chooser and keeper as
``vidsynth dance``), extracts their pose, measures their body statistics (ankle rows and heights near and
far), takes the scene without them (the per-pixel median of frames spread over the clip), and writes the
target's body crops (:class:`~vidsynth.engine.jobs.dance_stages.BodyCrop`, the window inference cuts) with
their poses in imaginaire's raw layout. :func:`train_dance` trains a pose vid2vid on them for a time
budget and writes a model file whose job metadata carries what ``vidsynth dance`` needs.

Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

    train_dance("dancer.mp4", "dancer.safetensors", minutes=30)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from vidsynth.errors import VidsynthError

DANCE_SIZE = (128, 96)   # (H, W) the model renders the body crop at on a GPU
CPU_DANCE_SIZE = (64, 48)  # and on a CPU, where a 30-minute budget buys a few hundred iterations at 128×96
CROP_MARGIN = 1.35       # the body crop's height over the tallest body seen
MIN_SEQUENCE = 6         # frames: shorter runs of posed frames are not training sequences


@dataclass
class DanceData:
    """What :func:`prepare_dance_data` found and wrote."""

    folder: str                        # the training folder (images/, poses-openpose/)
    stats: object                      # BodyStats of the target in their frame
    frame_hw: tuple[int, int]          # the target's frame size
    crop_wh: tuple[int, int]           # the body crop, in target pixels
    background: np.ndarray             # H×W×3 uint8
    posed: int = 0                     # frames with the target posed (written)
    frames: int = 0                    # frames read
    sequences: list[str] = field(default_factory=list)
    poses: dict = field(default_factory=dict)  # frame index -> PoseKeypoints in the full frame
    thumbnail: np.ndarray | None = None        # the first body crop: the target as a picture
    iterations: int = 0                        # training iterations run

    def job_metadata(self, size: tuple[int, int], thumbnail: np.ndarray | None = None):
        """The model file's job metadata for ``vidsynth dance``."""
        import torch

        from vidsynth.networks.model_file import JobMetadata

        info = {"frame_size": [self.frame_hw[1], self.frame_hw[0]],
                "crop": {"width": self.crop_wh[0], "height": self.crop_wh[1], "centre": "body keypoints",
                         "model_size": [size[1], size[0]]},
                "body_stats": self.stats.as_dict(), "frames": self.posed}
        tensors = {"background": torch.from_numpy(np.ascontiguousarray(self.background))}
        if thumbnail is not None:
            tensors["thumbnail"] = torch.from_numpy(np.ascontiguousarray(thumbnail))
        return JobMetadata("dance", info, tensors)


def read_frames(path: str, frames: range | None = None):
    """(index, RGB image) of a clip, only the ``frames`` asked for (all by default)."""
    from vidsynth.streams import open_source

    if not os.path.isfile(path):
        raise VidsynthError(f"target clip {path!r} does not exist; give a video of the person to learn")
    source = open_source(path)
    source.open()
    try:
        for frame in source:
            if frames is not None and frame.index >= frames.stop:
                break
            if frames is None or frame.index in frames:
                yield frame.index, frame.image
    finally:
        source.close()


def prepare_dance_data(target: str, folder: str, size: tuple[int, int] = DANCE_SIZE, frames: range | None = None,
                       person: int | None = None, choose: str = "largest", progress: bool = True) -> DanceData:
    """Find, pose and crop the target person in ``target`` (a video) and write the training folder."""
    from fractions import Fraction

    from vidsynth.engine.extract.normalize import body_stats
    from vidsynth.engine.extract.person import PersonPoseConfig, PersonPoseExtractor, pose_box
    from vidsynth.streams.frame import Frame

    extractor = PersonPoseExtractor(PersonPoseConfig(choose=choose, person=person, warn_fraction=1.0))
    extractor.open()
    poses, samples, frame_hw = {}, [], None
    count, t0 = 0, time.monotonic()
    try:
        for index, image in read_frames(target, frames):
            frame_hw = image.shape[:2]
            f = extractor(Frame(index=index, pts=index, time_base=Fraction(1, 1), image=image))
            if not f.conditions["pose"].is_empty:
                poses[index] = f.conditions["pose"]
            if count % 8 == 0:
                samples.append(image)
            count += 1
            if progress and count % 50 == 0:
                print(f"\rtrain --job dance: posed {len(poses)} of {count} frames ({time.monotonic() - t0:.0f} s)",
                      end="", file=sys.stderr)
    finally:
        extractor.close()
    if progress:
        print(file=sys.stderr)
    if len(poses) < 2 * MIN_SEQUENCE:
        raise VidsynthError(f"the target person was posed in {len(poses)} of {count} frames of {target}; a dancer "
                            f"model needs at least {2 * MIN_SEQUENCE}: film one person, whole body in view, or "
                            "pick them with --person N")
    stats = body_stats(list(poses.values()))
    tallest = max(b[3] - b[1] for b in (pose_box(p) for p in poses.values()) if b is not None)
    crop_h = int(round(tallest * CROP_MARGIN / 2)) * 2
    crop_w = int(round(crop_h * size[1] / size[0] / 2)) * 2
    # the scene without the target: a person who moves is in few of the sampled frames at any pixel
    background = np.median(np.stack(samples[-min(len(samples), 64):]), axis=0).astype(np.uint8)
    data = DanceData(folder, stats, tuple(frame_hw), (crop_w, crop_h), background, frames=count, poses=poses)
    _write_crops(target, data, size, frames)
    return data


def _write_crops(target: str, data: DanceData, size: tuple[int, int], frames: range | None) -> None:
    """The body crops and their poses, one sequence per run of consecutive posed frames."""
    import cv2

    from vidsynth.engine.extract.person import cut
    from vidsynth.engine.jobs.dance_stages import BodyCrop
    from vidsynth.engine.sidecars import write_openpose_json

    crop = BodyCrop(data.crop_wh, size)
    runs: list[list[int]] = []
    for index in sorted(data.poses):
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    keep = {i: n for n, run in enumerate(r for r in runs if len(r) >= MIN_SEQUENCE) for i in run}
    if not keep:
        raise VidsynthError(f"the target person is never posed for {MIN_SEQUENCE} frames in a row in {target}; "
                            "film them continuously, whole body in view")
    previous = None
    for index, image in read_frames(target, frames):
        if index not in keep:
            continue
        if previous is None or index != previous + 1:
            crop.reset()
        previous = index
        sequence = f"seq{keep[index]:04d}"
        pose = data.poses[index]
        placement = crop.update(pose, data.frame_hw)
        piece = cut(image, placement.box)
        piece = cv2.resize(piece, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        if data.thumbnail is None:
            data.thumbnail = piece
        for kind in ("images", "poses-openpose"):
            os.makedirs(os.path.join(data.folder, kind, sequence), exist_ok=True)
        cv2.imwrite(os.path.join(data.folder, "images", sequence, f"{index:06d}.png"),
                    cv2.cvtColor(piece, cv2.COLOR_RGB2BGR))
        write_openpose_json(os.path.join(data.folder, "poses-openpose", sequence, f"{index:06d}.json"),
                            pose.transformed(placement.scale, placement.box[:2]))
        if sequence not in data.sequences:
            data.sequences.append(sequence)
        data.posed += 1


def dance_config(size: tuple[int, int] = DANCE_SIZE, device: str = "cpu"):
    """The training config of a personal dancer: the small pose vid2vid, at the body crop's size."""
    from .config import load_config

    cfg = load_config("vid2vid_pose_tiny")
    cfg.data.crop_size = [int(size[0]), int(size[1])]
    cfg.data.flip = False  # the target's left and right are theirs: a mirrored dancer is someone else
    cfg.data.batch_size = 2
    cfg.data.sequence_length = 4
    # PSNR-minded weights, as the street benchmark's: L1 leads, the adversarial terms stay at a tenth
    cfg.trainer.loss_weights = {**cfg.trainer.loss_weights, "gan": 0.1, "feature_matching": 1.0, "l1": 20.0}
    cfg.trainer.checkpoint_every = 10 ** 9  # the time budget's stretches end in checkpoints (train_for)
    if device.startswith("cuda"):  # room for a wider generator
        cfg.generator["num_filters"] = 32
        cfg.generator["max_num_filters"] = 256
    return cfg


def train_for(cfg, data_folder: str, run_folder: str, minutes: float, device: str | None = None,
              progress: bool = True) -> dict:
    """Train until ``minutes`` have passed: a short first stretch measures the speed, then stretches of
    about a quarter of the remaining time (two minutes at least) each end in a checkpoint, so a stopped
    run keeps its last one and ``--resume`` of the run folder goes on from it."""
    from .launch import run

    deadline = time.monotonic() + 60 * minutes
    start = time.monotonic()
    result = run(cfg, data_folder, run_folder, device=device, progress=progress, max_iter=20)
    per_iter = (time.monotonic() - start) / max(result["iteration"], 1)
    while True:
        left = deadline - time.monotonic() - 10  # the last stretch's checkpoint and the export
        step = min(int(left / per_iter), max(10, int(max(left / 4, 120) / per_iter)))
        if step < 1:
            return result
        start, before = time.monotonic(), result["iteration"]
        result = run(cfg, data_folder, run_folder, resume=run_folder, device=device, progress=progress,
                     max_iter=before + step)
        per_iter = (time.monotonic() - start) / max(result["iteration"] - before, 1)


def train_dance(target: str, out: str, minutes: float = 30.0, device: str | None = None,
                size: tuple[int, int] | None = None, frames: range | None = None, person: int | None = None,
                work: str | None = None, progress: bool = True) -> DanceData:
    """Footage of one person → a dancer model file at ``out`` (see the module docstring)."""
    from vidsynth.networks.model_file import attach_job

    if not str(out).endswith(".safetensors"):
        raise VidsynthError(f"--out is the dancer's model file and ends in .safetensors; found {out!r}")
    if minutes <= 0:
        raise VidsynthError(f"expected --minutes above 0, found {minutes:g}")
    if size is None:
        size = DANCE_SIZE if str(device or "cpu").startswith("cuda") else CPU_DANCE_SIZE
    work = work or os.path.splitext(out)[0] + ".work"
    data_folder, run_folder = os.path.join(work, "data"), os.path.join(work, "run")
    shutil.rmtree(data_folder, ignore_errors=True)
    start = time.monotonic()
    data = prepare_dance_data(target, data_folder, size=size, frames=frames, person=person, progress=progress)
    cfg = dance_config(size, device or "cpu")
    left = minutes - (time.monotonic() - start) / 60
    if left <= 0.2:
        raise VidsynthError(f"preparing the footage took the whole {minutes:g} minutes; give more --minutes")
    shutil.rmtree(run_folder, ignore_errors=True)
    result = train_for(cfg, data_folder, run_folder, left, device=device, progress=progress)
    model_path = result["model_file"]
    attach_job(model_path, data.job_metadata(size, data.thumbnail))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    shutil.copyfile(model_path, out + ".tmp")
    os.replace(out + ".tmp", out)
    with open(os.path.join(work, "dance.json"), "w") as f:
        json.dump({"iterations": result["iteration"], "posed": data.posed, "frames": data.frames,
                   "sequences": len(data.sequences), "crop": list(data.crop_wh), "size": list(size),
                   "stats": data.stats.as_dict()}, f, indent=1)
    data.iterations = result["iteration"]
    return data


# -- `vidsynth train --job dance` (the shared framework in training/jobs.py) -----------------------------


def _hw(size: int) -> tuple[int, int]:
    """The body crop's (H, W) for a model side of ``size`` px: 4:3 upright, multiples of 16."""
    h = max(32, int(size) // 16 * 16)
    return h, max(16, int(round(h * 0.75 / 16)) * 16)


def prepare_job(target: str, data_dir: str, size: int, max_frames: int | None = None) -> dict:
    data = prepare_dance_data(target, data_dir, size=_hw(size), frames=range(max_frames) if max_frames else None)
    data.poses = {}
    return {"data": data, "frames": data.posed}


def _register() -> None:
    from .jobs import TrainingJob, register_job

    register_job(TrainingJob(
        "dance", prepare_job, lambda device, minutes, size: dance_config(_hw(size), device),
        lambda prepared, size: prepared["data"].job_metadata(_hw(size), prepared["data"].thumbnail),
        default_size=lambda device: DANCE_SIZE[0] if device.startswith("cuda") else CPU_DANCE_SIZE[0],
        help="a personal dancer from one person's footage"))


_register()
