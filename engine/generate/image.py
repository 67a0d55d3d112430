"""The six image models as per-frame stages: pix2pixHD and SPADE from labels; UNIT, MUNIT, FUNIT and
COCO-FUNIT from the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vidsynth.errors import VidsynthError

from ..fitting import Placement
from ..stage import Stage
from ..tensors import image_to_tensor, tensor_to_image
from .inputs import InputEncoder, input_kind


@dataclass
class ImageGeneratorConfig:
    """Options of :class:`ImageGenerator`."""

    fit: str = "resize"             # resize | crop | letterbox: how frames meet the model's size
    size: tuple[int, int] | None = None  # (H, W) the model runs at; default: trained short side, frame aspect
    a2b: bool = True                # translation direction (UNIT, MUNIT)
    seed: int = 0                   # random style codes (SPADE, MUNIT, pix2pixHD features) come from it
    device: str = "cpu"


def model_size(model, src_hw: tuple[int, int], size: tuple[int, int] | None = None) -> tuple[int, int]:
    """The (H, W) an image model runs at: ``size`` if given, else the frame's aspect at the model's trained
    short side, rounded to the size multiple the architecture needs."""
    cfg = model.config
    multiple = int(getattr(cfg, "size_multiple", 0) or 2 ** getattr(cfg, "num_downsamples_content", 4))
    if size is not None:
        h, w = size
        if h % multiple or w % multiple:
            raise VidsynthError(f"--size {w}x{h} does not suit this model: both sides must be multiples of {multiple}")
        return h, w
    short = int(getattr(cfg, "output_size", 256))
    h, w = src_hw
    scale = short / min(h, w)
    return (max(multiple, round(h * scale / multiple) * multiple),
            max(multiple, round(w * scale / multiple) * multiple))


def _at_size(image: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """A style or example picture as a [1,3,H,W] tensor at the model's size."""
    return torch.nn.functional.interpolate(image_to_tensor(image), size=size, mode="bilinear",
                                           align_corners=False, antialias=True)


class _Translate(nn.Module):
    """The translation models' forward with the non-tensor arguments bound (a Runner takes tensors only)."""

    def __init__(self, model, a2b: bool):
        super().__init__()
        self.model, self.a2b = model, a2b

    def forward(self, images: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        name = self.model.model_name
        if name == "unit":
            return self.model(images, self.a2b)
        if name == "munit":
            return self.model(images, style, self.a2b)
        return self.model(images, style)


class ImageGenerator(Stage):
    """Runs an image model on every frame and maps the result back to the frame's size.

    The style is fixed for the whole stream (a flickering style is not what a video wants): from
    ``style_image`` (SPADE, MUNIT, pix2pixHD with a feature encoder), from ``examples`` (FUNIT and
    COCO-FUNIT: a few pictures of the target class), or drawn once from ``config.seed``.

    >>> from vidsynth.networks.registry import build_model
    >>> from vidsynth.streams import Frame
    >>> from fractions import Fraction
    >>> model = build_model("unit", {"num_filters": 8, "max_num_filters": 16, "num_res_blocks": 1})
    >>> stage = ImageGenerator(model)
    >>> frame = Frame(0, 0, Fraction(1, 30), np.zeros((40, 60, 3), np.uint8))
    >>> stage.process(frame).image.shape
    (40, 60, 3)
    """

    threads = 4

    def __init__(self, model, config: ImageGeneratorConfig | None = None, style_image: np.ndarray | None = None,
                 examples: list[np.ndarray] | None = None, runner_factory=None):
        self.config = config or ImageGeneratorConfig()
        self.model = model.eval().to(self.config.device)
        self.kind = input_kind(model)
        if self.kind not in ("labels", "image"):
            raise VidsynthError(f"{model.model_name} is a video model; use VideoGenerator")
        self.encoder = InputEncoder(self.kind, 0)
        self.style_image, self.examples = style_image, examples
        self.runner_factory = runner_factory  # (module, example_inputs) -> Runner, for ONNX/compile backends
        self._runner = None
        self._style = None
        self._placement: Placement | None = None

    @property
    def name(self) -> str:
        return f"generate:{self.model.model_name}"

    def _prepare_style(self, size) -> torch.Tensor | None:
        """The stream's style code, computed once."""
        m, name = self.model, self.model.model_name
        gen = torch.Generator().manual_seed(self.config.seed)
        style_tensor = _at_size(self.style_image, size) if self.style_image is not None else None
        with torch.inference_mode():
            if name == "munit":
                return (m.encode_style(style_tensor, "b" if self.config.a2b else "a") if style_tensor is not None
                        else m.random_style(1, gen))
            if name in ("funit", "coco_funit"):
                if not self.examples:
                    raise VidsynthError(f"{name} translates into a class shown by a few example pictures: "
                                        "give them with --examples DIR")
                return m.encode_class(torch.cat([_at_size(e, size) for e in self.examples]))
            if name == "spade" and m.config.style_dims is not None:
                return m.encode_style(style_tensor)[0] if style_tensor is not None else m.random_style(1, gen)
        return None

    def process(self, frame):
        self.encoder.require(frame)
        h, w = frame.image.shape[:2] if self.kind == "image" else np.asarray(frame.conditions["labels"]).shape[:2]
        if self._placement is None or self._placement.src_hw != (h, w):
            size = model_size(self.model, (h, w), self.config.size)
            self._placement = Placement.for_mode(self.config.fit, (h, w), size)
            self._style = self._prepare_style(size)
            self._runner = None
        out = self._generate(frame)
        frame.image = tensor_to_image(self._placement.paste(out.float().cpu()))
        return frame

    def _generate(self, frame) -> torch.Tensor:
        m, p, dev = self.model, self._placement, self.config.device
        with torch.inference_mode():
            if self.kind == "labels":
                ids = self.encoder.label_ids(frame, p).to(dev)
                if m.model_name == "pix2pixhd":
                    gen = torch.Generator().manual_seed(self.config.seed)
                    return m.generate(ids, generator=gen)
                inputs = {"label": m.config.label.encode(ids)}
                if self._style is not None:
                    inputs["z"] = self._style
                return self._run(m, inputs)
            inputs = {"images": self.encoder.image(frame, p).to(dev)}
            if self._style is not None:
                inputs["style"] = self._style
            return self._run(_Translate(m, self.config.a2b), inputs)

    def _run(self, module, inputs) -> torch.Tensor:
        if self.runner_factory is None:
            out = module(**inputs)
            return out["images_trans"] if isinstance(out, dict) else out
        if self._runner is None:
            self._runner = self.runner_factory(module, inputs)
        return next(iter(self._runner(inputs).values()))
