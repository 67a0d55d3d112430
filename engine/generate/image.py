"""Image models as per-frame stages: a label map or the picture in, a picture out.

The stage reads the model's description (``describe()``: what it reads, its size multiple and trained
short side, whether it takes a style or examples) and calls it through its uniform per-frame entry:
``stream_style`` once per stream, ``translate_inputs`` and ``translator`` per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from vidsynth.errors import VidsynthError

from ..fitting import Placement
from ..stage import Stage
from ..tensors import image_to_tensor, tensor_to_image
from .inputs import InputEncoder


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
    from vidsynth.networks.registry import describe_model

    spec = describe_model(model)
    multiple = int(spec.size_multiple)
    if size is not None:
        h, w = size
        if h % multiple or w % multiple:
            raise VidsynthError(f"--size {w}x{h} does not suit this model: both sides must be multiples of {multiple}")
        return h, w
    short = int(spec.short_side or 256)
    h, w = src_hw
    scale = short / min(h, w)
    return (max(multiple, round(h * scale / multiple) * multiple),
            max(multiple, round(w * scale / multiple) * multiple))


def _at_size(image: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """A style or example picture as a [1,3,H,W] tensor at the model's size."""
    return torch.nn.functional.interpolate(image_to_tensor(image), size=size, mode="bilinear",
                                           align_corners=False, antialias=True)


class ImageGenerator(Stage):
    """Runs an image model on every frame and maps the result back to the frame's size.

    The style is fixed for the whole stream (a flickering style is not what a video wants): from
    ``style_image`` (models whose description says ``style``), from ``examples`` (``examples``: a few
    pictures of the target class), or drawn once from ``config.seed``.

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
        from vidsynth.networks.registry import describe_model

        self.config = config or ImageGeneratorConfig()
        self.model = model.eval().to(self.config.device)
        self.spec = describe_model(model)
        if self.spec.is_video:
            raise VidsynthError(f"{model.model_name} is a video model; use VideoGenerator")
        if self.spec.examples and not examples:
            raise VidsynthError(f"this {model.model_name} model translates into a class shown by a few example "
                                "pictures: give them with --examples PHOTO_OR_FOLDER")
        self.kind = self.spec.reads
        self.encoder = InputEncoder(self.kind, 0)
        self.style_image, self.examples = style_image, examples
        self.runner_factory = runner_factory  # (module, example_inputs) -> Runner, for ONNX/compile backends
        self.translator = model.translator(self.config.a2b)  # what a runner runs: named tensors in, picture out
        self._runner = None
        self._style = None
        self._placement: Placement | None = None

    @property
    def name(self) -> str:
        return f"generate:{self.model.model_name}"

    def _prepare_style(self, size) -> torch.Tensor | None:
        """The stream's style code, computed once (None for a model that takes none)."""
        gen = torch.Generator().manual_seed(self.config.seed)
        style = _at_size(self.style_image, size) if self.style_image is not None else None
        examples = torch.cat([_at_size(e, size) for e in self.examples]) if self.examples else None
        dev = self.config.device
        with torch.inference_mode():
            return self.model.stream_style(None if style is None else style.to(dev),
                                           None if examples is None else examples.to(dev), gen, self.config.a2b)

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
        p, dev = self._placement, self.config.device
        x = self.encoder.label_ids(frame, p) if self.kind == "labels" else self.encoder.image(frame, p)
        gen = torch.Generator().manual_seed(self.config.seed)  # per-frame random draws repeat every frame
        with torch.inference_mode():
            inputs = self.model.translate_inputs(x.to(dev), self._style, gen)
            return self._run(self.translator, inputs)

    def _run(self, module, inputs) -> torch.Tensor:
        if self.runner_factory is None:
            out = module(**inputs)
            return out["images_trans"] if isinstance(out, dict) else out
        if self._runner is None:
            self._runner = self.runner_factory(module, inputs)
        return next(iter(self._runner(inputs).values()))
