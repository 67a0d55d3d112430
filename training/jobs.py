"""From a person's footage to a personal model in one command: ``vidsynth train --job JOB --target CLIP``.

A training job (:class:`TrainingJob`, registered in :data:`JOBS` with :func:`register_job`) knows three
things: how to extract its training folder from the target clip with the same crop and fitting its
inference job uses (``prepare``), which config suits the device and the time given (``config``), and what
the model file must carry for inference (``metadata``: a :class:`~vidsynth.networks.model_file.JobMetadata`).
:func:`train_job` does the rest for every job: trains with a progress bar, a preview image every few
minutes (``previews/`` in the run folder), checkpoints by iteration and by time, stops at the time
budget, resumes, and writes the model file with the job metadata.

``talk`` is defined here; ``dance`` and ``street`` register themselves the same way.

>>> 'talk' in JOBS
True

Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

    train_job("talk", target="me.mp4", out="me.safetensors", minutes=20)
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from vidsynth.engine.devices import check_device
from vidsynth.errors import VidsynthError


@dataclass
class TrainingJob:
    """One job's training recipe.

    ``prepare(target, data_dir, size, max_frames) -> dict``: write the training folder (imaginaire's raw
    layout) and return what ``metadata`` needs; ``config(device, minutes, size) -> TrainConfig``;
    ``metadata(prepared, size) -> JobMetadata``; ``default_size(device)``: the model's side in pixels.
    A job with its own training loop gives ``train`` instead, and :func:`train_job` hands it the run.

    Another module adds a job with ``register_job(TrainingJob("dance", ...))`` at import and a line in
    :data:`JOB_MODULES`.
    """

    name: str
    prepare: Callable | None = None
    config: Callable | None = None
    metadata: Callable | None = None
    default_size: Callable[[str], int] = lambda device: 128
    help: str = ""
    # a job that runs its whole training itself: train(target=, out=, minutes=, device=, size=, run_dir=,
    # resume=, max_iter=, max_frames=, progress=) -> {'model_file', 'iteration', 'minutes', 'frames'}
    train: Callable | None = None


JOBS: dict[str, TrainingJob] = {}


def register_job(job: TrainingJob) -> None:
    """Make ``vidsynth train --job <job.name>`` train with ``job``."""
    JOBS[job.name] = job


# modules that register further jobs when imported (those not installed are skipped)
JOB_MODULES = ["vidsynth.training.dance", "vidsynth.training.street"]


def _load_jobs() -> None:
    """Import the modules that register the other jobs (dance, street), when they exist."""
    import importlib

    for module in JOB_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def get_job(name: str) -> TrainingJob:
    _load_jobs()
    if name not in JOBS:
        raise VidsynthError(f"unknown training job {name!r}; expected one of: {', '.join(sorted(JOBS))}")
    return JOBS[name]


# --- talk ---------------------------------------------------------------------------------------------


def _mouth_and_eyes(points: np.ndarray) -> float:
    """How far a face is from neutral: mouth opening over width, minus eye opening over eye width."""
    mouth = np.linalg.norm(points[66, :2] - points[62, :2]) / max(np.linalg.norm(points[64, :2] - points[60, :2]), 1e-6)
    eyes = (np.linalg.norm(points[[40, 41], :2].mean(0) - points[[37, 38], :2].mean(0))
            / max(np.linalg.norm(points[39, :2] - points[36, :2]), 1e-6))
    return float(mouth - eyes)


def face_frames(target: str, max_frames: int | None = None, start: int = 0):
    """Yield (index, image, landmarks (68, 3) or None) of a clip: the landmarks a synthetic source
    carries, else MediaPipe's (what ``vidsynth talk`` extracts)."""
    from vidsynth.streams import open_source

    src = open_source(target)
    src.open()
    extractor = None
    try:
        for frame in src:
            if frame.index < start:
                continue
            if max_frames is not None and frame.index >= start + max_frames:
                break
            face = frame.conditions.get("face")
            if face is None:
                if extractor is None:
                    from vidsynth.engine.extract import FaceExtractor

                    extractor = FaceExtractor()
                    extractor.open()
                face = extractor(frame).conditions["face"]
            points = np.asarray(getattr(face, "points", face), np.float32)
            yield frame.index, frame.image, (None if not (points[:, 2] > 0).any() else points)
    finally:
        if extractor is not None:
            extractor.close()
        src.close()


def prepare_talk(target: str, data_dir: str, size: int, max_frames: int | None = None, fps: float = 25.0) -> dict:
    """The target's stable face crops at ``size``² with their landmarks (``images/``, ``landmarks-dlib68/``);
    returns the neutral landmarks, the background and a thumbnail for the model file."""
    import cv2

    from vidsynth.engine.extract.face_track import FaceCropConvention, StableFaceBox
    from vidsynth.engine.tensors import image_to_tensor, tensor_to_image

    convention = FaceCropConvention()
    box = StableFaceBox(convention)
    images_dir = os.path.join(data_dir, "images", "target")
    marks_dir = os.path.join(data_dir, "landmarks-dlib68", "target")
    os.makedirs(images_dir, exist_ok=True)
    os.makedirs(marks_dir, exist_ok=True)
    samples, neutral, neutral_score, neutral_image, written, missing, hw = [], None, math.inf, None, 0, 0, None
    for index, image, points in face_frames(target, max_frames):
        hw = image.shape[:2]
        if len(samples) < 60 or index % 10 == 0:
            samples.append(image)
        if points is None:
            missing += 1
            continue
        p = box.update(points, index / fps, hw, (size, size))
        crop = tensor_to_image(p.crop(image_to_tensor(image), pad_value=-1.0))
        local = points.copy()
        local[:, :2] = p.points_to_model(points[:, :2].astype(np.float64))
        name = f"{written:06d}"
        cv2.imwrite(os.path.join(images_dir, name + ".png"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
        with open(os.path.join(marks_dir, name + ".json"), "w") as f:
            json.dump([[round(float(x), 2), round(float(y), 2)] for x, y in local[:, :2]], f)
        written += 1
        score = _mouth_and_eyes(points)
        if score < neutral_score:
            neutral, neutral_score, neutral_image = points.copy(), score, crop
    if written < 8:
        raise VidsynthError(f"the target clip {target!r} shows a face in {written} frames ({missing} without one); "
                            "a personal talking head needs a clip where the face is visible (a few minutes is best)")
    background = np.median(np.stack(samples[-120:]), axis=0).astype(np.uint8)
    thumbnail = cv2.resize(neutral_image, (64, 64), interpolation=cv2.INTER_AREA)
    return {"neutral": neutral, "background": background, "thumbnail": thumbnail, "frames": written,
            "missing": missing, "frame_hw": hw, "convention": convention.to_dict()}


def talk_config(device: str, minutes: float | None, size: int):
    """The CPU config (a small vid2vid at ``size``) or, on a GPU, the full one."""
    from .config import load_config

    cfg = load_config("vid2vid_talk_gpu" if device.startswith("cuda") else "vid2vid_talk_cpu")
    cfg.data.crop_size = [size, size]
    return cfg


def talk_metadata(prepared: dict, size: int):
    import torch

    from vidsynth.networks.model_file import JobMetadata

    return JobMetadata("talk", {"crop": prepared["convention"], "size": [size, size],
                                "frame_hw": list(prepared["frame_hw"]), "training_frames": prepared["frames"]},
                       {"neutral_landmarks": torch.from_numpy(np.asarray(prepared["neutral"], np.float32)),
                        "background": torch.from_numpy(np.ascontiguousarray(prepared["background"])),
                        "thumbnail": torch.from_numpy(np.ascontiguousarray(prepared["thumbnail"]))})


register_job(TrainingJob("talk", prepare_talk, talk_config, talk_metadata,
                         default_size=lambda device: 256 if device.startswith("cuda") else 128,
                         help="a talking head of the person in the clip (vid2vid from face landmarks)"))


# --- the shared run -----------------------------------------------------------------------------------


def _timed_trainer(base, deadline: float | None, preview_every_s: float, checkpoint_every_s: float, run_dir: str):
    """The family's trainer with a clock: stop at ``deadline`` (monotonic seconds), write a preview PNG
    every ``preview_every_s`` and, when the config has no time-based checkpoints of its own, a checkpoint
    every ``checkpoint_every_s``."""

    class TimedTrainer(base):
        def train(self):
            # with a time budget the bar counts seconds (an iteration count is not known in advance)
            self._time_bar = None
            if deadline is not None and self.progress and self.info.is_main:
                from tqdm import tqdm

                self.progress = False
                self._time_bar = tqdm(total=max(1, round(deadline - time.monotonic())), unit="s",
                                      desc=f"train {self.cfg.model}", dynamic_ncols=True,
                                      bar_format="{l_bar}{bar}| {elapsed} of the budget, {remaining} left{postfix}")
            try:
                super().train()
            finally:
                if self._time_bar is not None:
                    self._time_bar.close()

        def _log_images(self, batch):
            super()._log_images(batch)
            now = time.monotonic()
            bar = getattr(self, "_time_bar", None)
            if bar is not None:
                bar.n = min(bar.total, bar.total - max(0, round(deadline - now)))
                losses = {k.split("/")[0][0] + ":" + k.split("/")[1][:6]: f"{v:.3f}"
                          for k, v in self.last_losses.items() if k.endswith("total")}
                bar.set_postfix({"it": self.iteration, **losses})
            if not hasattr(self, "_clock"):
                self._clock = {"preview": now, "checkpoint": now}
            if self.info.is_main and now - self._clock["preview"] >= preview_every_s:
                self._clock["preview"] = now
                write_preview(self, batch, os.path.join(run_dir, "previews", f"{self.iteration:07d}.png"))
            if not hasattr(self.cfg.trainer, "checkpoint_minutes") and now - self._clock["checkpoint"] >= checkpoint_every_s:
                self._clock["checkpoint"] = now
                self.save()
            if deadline is not None and now >= deadline and self.iteration < self.cfg.trainer.max_iter:
                self.cfg.trainer.max_iter = self.iteration  # the loop's own check saves and ends the run

    return TimedTrainer


def write_preview(trainer, batch, path: str) -> None:
    """One PNG of the trainer's sample images (condition | generated | real, as the family shows them)."""
    import cv2
    import torch

    from .trainers.base import to_device

    with torch.no_grad():
        images = trainer.sample_images(to_device(batch, trainer.device, trainer.dtype))
    if not images:
        return
    label = batch.get("label") if isinstance(batch, dict) else None
    if label is not None and label.dim() == 5 and label.shape[2] == 1:  # a face edge map (T frames): the last
        images = {"condition": label[:, -1].float() * 2 - 1, **images}
    row = []
    for img in images.values():
        if img.dim() != 4 or img.shape[1] not in (1, 3):
            continue
        img = img[:1].detach().float().cpu().clamp(-1, 1).expand(1, 3, *img.shape[-2:])
        row.append(((img[0] + 1) * 127.5).round().byte().permute(1, 2, 0).numpy())
    if not row:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, cv2.cvtColor(np.concatenate(row, 1), cv2.COLOR_RGB2BGR))


def train_job(job: str, target: str, out: str, minutes: float | None = None, device: str | None = None,
              size: int | None = None, run_dir: str | None = None, resume: bool = False, max_iter: int | None = None,
              max_frames: int | None = None, progress: bool = True, preview_minutes: float = 3.0) -> dict:
    """Train the personal model of ``job`` on the clip ``target`` and write it to ``out`` (a model file
    with the job's metadata). ``run_dir`` (default ``out`` + ``.run``) holds the extracted data, logs,
    checkpoints and previews; ``resume`` continues the run there. ``minutes`` bounds the training time
    (extraction not counted); ``max_iter`` bounds the iterations. Returns {'model_file', 'iteration',
    'minutes', 'frames'}."""
    import torch

    recipe = get_job(job)
    if recipe.train is not None:
        return recipe.train(target=target, out=out, minutes=minutes, device=device, size=size, run_dir=run_dir,
                            resume=resume, max_iter=max_iter, max_frames=max_frames, progress=progress)
    if minutes is not None and minutes <= 0:
        raise VidsynthError(f"--minutes must be > 0; found {minutes}")
    if size is not None and not 32 <= size <= 1024:
        raise VidsynthError(f"--size must be between 32 and 1024 pixels; found {size}")
    device = check_device(device) if device else ("cuda" if torch.cuda.is_available() else "cpu")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise VidsynthError(f"cannot write {out!r}: folder {folder!r} does not exist")
    if not str(target).startswith(("synthetic:", "camera")) and not os.path.exists(target):
        raise VidsynthError(f"the target clip {target!r} does not exist; give a video file of the person")
    size = size or recipe.default_size(device)
    run_dir = run_dir or os.path.splitext(out)[0] + ".run"
    data_dir = os.path.join(run_dir, "data")
    prepared_path = os.path.join(run_dir, "prepared.pt")
    from . import checkpoint as ckpt

    if resume and os.path.isfile(prepared_path):
        prepared = torch.load(prepared_path, weights_only=False)
    else:
        if not resume and ckpt.latest_checkpoint(os.path.join(run_dir, "train")) is not None:
            raise VidsynthError(f"{run_dir} already holds a training run; continue it with --resume, or pick "
                                "another --out")
        os.makedirs(run_dir, exist_ok=True)
        prepared = recipe.prepare(target, data_dir, size, max_frames)
        torch.save(prepared, prepared_path)
    cfg = recipe.config(device, minutes, size)
    if max_iter is not None:
        cfg.trainer.max_iter = int(max_iter)
    started = time.monotonic()
    deadline = started + minutes * 60 if minutes is not None else None
    result = _run(cfg, data_dir, os.path.join(run_dir, "train"), device, resume, progress, deadline,
                  preview_minutes * 60, run_dir)
    import shutil

    from vidsynth.networks.model_file import attach_job

    tmp = out + ".tmp-job"
    shutil.copyfile(result["model_file"], tmp)
    attach_job(tmp, recipe.metadata(prepared, size))
    os.replace(tmp, out)
    return {"model_file": out, "iteration": result["iteration"], "minutes": (time.monotonic() - started) / 60,
            "frames": prepared.get("frames")}


def _run(cfg, data: str, out: str, device: str, resume: bool, progress: bool, deadline, preview_every_s, run_dir):
    """launch.run's single-process body with the timed trainer."""
    from vidsynth.networks.layers import apply_weight_norms

    from .datasets import build_dataset
    from .distributed import init_distributed, shutdown_distributed
    from .launch import export_model
    from .models import build_networks, initialise_weights, trainer_class
    from .trainers.base import seed_everything

    info = init_distributed(device)
    try:
        dataset = build_dataset(data, cfg.data, seed=cfg.trainer.seed, train=True,
                                **trainer_class(cfg.model).dataset_options)
        seed_everything(cfg.trainer.seed)
        generator, discriminator = build_networks(cfg, dataset)
        if cfg.trainer.generator_weight_norms:
            apply_weight_norms(generator)  # folded back into plain weights at export
        initialise_weights(generator, cfg.trainer.init)
        initialise_weights(discriminator, cfg.trainer.init)
        cls = _timed_trainer(trainer_class(cfg.model), deadline, preview_every_s, 10 * 60, run_dir)
        trainer = cls(cfg, generator, discriminator, dataset, out, info, progress=progress)
        if resume and os.path.isdir(out):
            trainer.resume(out)
        else:
            seed_everything(cfg.trainer.seed + 1)
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, "config.json"), "w") as f:
                json.dump(cfg.to_dict(), f, indent=1)
        trainer.train()
        model_file = export_model(trainer.inference_generator(), cfg, os.path.join(out, "model.safetensors"))
        return {"model_file": model_file, "iteration": trainer.iteration}
    finally:
        shutdown_distributed()
