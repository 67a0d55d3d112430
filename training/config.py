"""A training run's configuration: YAML read into typed dataclasses, validated once.

A config names the model (the networks registry's name), the generator's and discriminator's
configs (passed to the registry as they are), the data and the trainer options::

    model: spade
    generator: {num_filters: 16, num_labels: 36, ...}
    discriminator: {num_filters: 16}
    data:
      type: paired_images
      label_type: seg_maps
      num_classes: 35
      crop_size: [64, 64]
      batch_size: 2
    trainer:
      max_iter: 2000
      gan_mode: hinge
      loss_weights: {gan: 1.0, feature_matching: 10.0, perceptual: 10.0}
    gen_opt: {lr: 0.0001, betas: [0.0, 0.999]}
    dis_opt: {lr: 0.0004, betas: [0.0, 0.999]}

>>> cfg = config_from_dict({"model": "spade", "data": {"type": "paired_images"}})
>>> cfg.trainer.gan_mode
'hinge'
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from typing import Any

from vidsynth.errors import VidsynthError, require


@dataclass
class ScheduleConfig:
    """How the learning rate changes, counted in iterations.

    ``constant``; ``step`` (×gamma every step_size iterations); ``linear`` (constant until ``start``,
    then linearly to 0 at ``end``).
    """

    type: str = "constant"
    step_size: int = 100000
    gamma: float = 0.1
    start: int = 0
    end: int = 0


@dataclass
class OptimizerConfig:
    type: str = "adam"  # adam | adamw | rmsprop | sgd
    lr: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.0, 0.999])
    weight_decay: float = 0.0
    eps: float = 1e-8
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


@dataclass
class InitConfig:
    """How the convolution, linear and embedding weights start (imaginaire's ``trainer.init``): ``none``
    keeps PyTorch's own initialisation; ``normal`` (std = gain), ``xavier``, ``xavier_uniform``,
    ``kaiming``, ``kaiming_linear`` (scaled by gain) and ``orthogonal`` draw them anew, and every bias
    starts at 0. Weights under spectral or weight norm keep their own start, as they do in imaginaire."""

    type: str = "none"
    gain: float = 0.02


INIT_TYPES = ("none", "normal", "xavier", "xavier_uniform", "kaiming", "kaiming_linear", "orthogonal")


@dataclass
class EmaConfig:
    """An exponential moving average of the generator's weights, the copy inference uses."""

    enabled: bool = True
    beta: float = 0.999
    start_iter: int = 0  # before this the average just copies the weights


@dataclass
class PerceptualConfig:
    """The perceptual loss's feature network: ``builtin`` (a small fixed net) or a TorchScript file."""

    network: str = "builtin"
    weights: list[float] | None = None


@dataclass
class DataConfig:
    """Where the examples come from and how they are augmented.

    ``type``: paired_images | unpaired_images | few_shot_images | paired_videos | few_shot_videos.
    ``label_type``: the conditioning folder(s) turned into the network input: ``seg_maps`` (ids, one-hot
    over ``num_classes``; ids ≥ num_classes are an error unless equal to ``dont_care_id``),
    ``poses-openpose`` (OpenPose JSON → pose maps), ``landmarks-dlib68`` (face edge maps), or
    ``none``. ``instance_maps`` adds the instance-boundary channel (pix2pixHD, SPADE); ``extra_labels``
    adds folders of 1-channel maps as further channels (e.g. ``edge_maps``).
    Augmentation follows the papers: resize the shorter side to ``resize_short`` (0: keep), scale by a
    random factor in [1, 1 + random_scale], random crop to ``crop_size`` (H, W), horizontal flip; one
    draw per example, the same for every frame of a sequence.
    """

    type: str = "paired_images"
    label_type: str = "seg_maps"
    num_classes: int = 35
    dont_care_id: int | None = 255
    use_dont_care: bool = False  # an extra channel for the don't-care id
    instance_maps: bool = False
    extra_labels: list[str] = field(default_factory=list)
    image_ext: str = ""  # '' = any of png/jpg/jpeg
    resize_short: int = 0
    random_scale: float = 0.0
    crop_size: list[int] = field(default_factory=lambda: [64, 64])
    flip: bool = True
    batch_size: int = 1
    num_workers: int = 0
    sequence_length: int = 4  # video datasets: frames per training example (the maximum when progressive)
    num_references: int = 1  # few-shot: examples of the class / reference frames
    val_fraction: float = 0.0
    pose_thickness: int = 0  # 0 = scale with the image size


@dataclass
class VideoConfig:
    """vid2vid's progressive training: start at ``initial_frames`` frames per sequence and double every
    ``double_every`` iterations until ``sequence_length`` (from data); ``num_prev`` previous frames feed
    the generator; the temporal discriminator sees ``temporal_frames`` consecutive frames."""

    initial_frames: int = 2
    double_every: int = 1000
    num_prev: int = 2
    temporal_frames: int = 3
    # 0: one D and one G step per sequence, its frames' losses summed; k > 0: a D and a G step every k
    # frames, later frames generated from earlier steps' outputs (imaginaire's vid2vid: k = 1)
    frames_per_backward: int = 0
    # > 0: the generated frames fed back as previous frames get Gaussian noise, its std drawn per sequence
    # from [0, previous_noise] (images in [-1, 1]); teaches the recurrence not to trust its own outputs
    # blindly (noise augmentation of the context frames, as autoregressive video models use against drift)
    previous_noise: float = 0.0
    previous_noise_grid: int = 0  # 0: the noise is per pixel; n: drawn on an n×n grid and upsampled (smooth)


@dataclass
class TrainerConfig:
    max_iter: int = 1000
    seed: int = 0
    gan_mode: str = "hinge"
    loss_weights: dict[str, float] = field(default_factory=lambda: {"gan": 1.0, "feature_matching": 10.0})
    perceptual: PerceptualConfig = field(default_factory=PerceptualConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    init: InitConfig = field(default_factory=InitConfig)
    # train the generator with the spectral / weight norms its config marks (imaginaire's recipe; folded
    # into plain weights at export); false trains the plain weights (the tiny video configs)
    generator_weight_norms: bool = True
    amp: bool = True  # on CUDA only; the CPU always runs fp32
    # train in float64 (networks, data, losses; the model file is still fp32): several times slower, for
    # numerical checks, e.g. a torchrun run against one process without float32 rounding in the way
    float64: bool = False
    checkpoint_every: int = 500
    # also checkpoint when this many minutes passed since the last one (0: by iteration only), so a crash
    # or a kill loses at most this much work however slow an iteration is
    checkpoint_minutes: float = 10.0
    keep_checkpoints: int = 3
    log_every: int = 10
    image_every: int = 500
    grad_clip: float = 0.0
    video: VideoConfig = field(default_factory=VideoConfig)


@dataclass
class TrainConfig:
    model: str
    generator: dict[str, Any] = field(default_factory=dict)
    discriminator: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    gen_opt: OptimizerConfig = field(default_factory=OptimizerConfig)
    dis_opt: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=4e-4))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _build(cls, data: Any, where: str):
    """Fill dataclass ``cls`` from a dict, recursively, naming the bad key on an error."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise VidsynthError(f"config section {where or 'top level'} must be a mapping; found {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise VidsynthError(
            f"unknown config key(s) {', '.join(unknown)} in {where or 'the top level'}; expected some of: "
            f"{', '.join(sorted(names))}"
        )
    kwargs = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value, f"{where}.{key}" if where else key)
        else:
            kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise VidsynthError(f"config section {where or 'top level'} is incomplete: {exc}") from None


def config_from_dict(data: dict) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from a plain dict (a parsed YAML file)."""
    if not isinstance(data, dict) or "model" not in data:
        raise VidsynthError("a training config needs a 'model:' entry naming the model (e.g. spade, vid2vid)")
    cfg = _build(TrainConfig, data, "")
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    from .losses import GAN_MODES

    if cfg.trainer.init.type not in INIT_TYPES:
        raise VidsynthError(f"trainer.init.type must be one of {', '.join(INIT_TYPES)}; found {cfg.trainer.init.type!r}")
    if cfg.trainer.gan_mode not in GAN_MODES:
        raise VidsynthError(f"trainer.gan_mode must be one of {', '.join(GAN_MODES)}; found {cfg.trainer.gan_mode!r}")
    if len(cfg.data.crop_size) != 2 or min(cfg.data.crop_size) < 8:
        raise VidsynthError(f"data.crop_size must be [height, width] of at least 8 pixels; found {cfg.data.crop_size}")
    if cfg.data.batch_size < 1:
        raise VidsynthError(f"data.batch_size must be at least 1; found {cfg.data.batch_size}")
    if cfg.trainer.max_iter < 0 or cfg.trainer.checkpoint_every < 1:
        raise VidsynthError("trainer.max_iter must be ≥ 0 and trainer.checkpoint_every ≥ 1")
    if not cfg.trainer.checkpoint_minutes >= 0:
        raise VidsynthError(f"trainer.checkpoint_minutes must be ≥ 0 (0: by iteration only); found "
                            f"{cfg.trainer.checkpoint_minutes}")
    for opt in (cfg.gen_opt, cfg.dis_opt):
        if opt.type not in ("adam", "adamw", "rmsprop", "sgd"):
            raise VidsynthError(f"optimizer type must be adam, adamw, rmsprop or sgd; found {opt.type!r}")
        if opt.schedule.type not in ("constant", "step", "linear"):
            raise VidsynthError(f"schedule type must be constant, step or linear; found {opt.schedule.type!r}")
    for name, meaning in (("previous_noise", "the largest noise std on the fed-back frames; 0: none"),
                          ("previous_noise_grid", "0: per-pixel noise, n: an n×n grid"),
                          ("frames_per_backward", "0: one step per sequence, k: a step every k frames")):
        value = getattr(cfg.trainer.video, name)
        if value < 0:
            raise VidsynthError(f"trainer.video.{name} must be ≥ 0 ({meaning}); found {value}")


def load_config(path: str) -> TrainConfig:
    """Read a YAML training config (``training/configs/*.yaml`` are the shipped ones).

    A bare name such as ``spade_tiny`` finds the shipped config of that name.
    """
    yaml = require("yaml", "reading training configs")
    if not os.path.isfile(path):
        shipped = os.path.join(os.path.dirname(__file__), "configs", f"{path}.yaml")
        if os.path.isfile(shipped):
            path = shipped
        else:
            raise VidsynthError(
                f"the training config {path!r} does not exist; give a YAML file or one of the shipped names: "
                f"{', '.join(shipped_configs())}"
            )
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise VidsynthError(f"the training config {path!r} is not valid YAML: {exc}") from None
    return config_from_dict(data)


def shipped_configs() -> list[str]:
    folder = os.path.join(os.path.dirname(__file__), "configs")
    if not os.path.isdir(folder):
        return []
    return sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml"))
