"""World-consistent vid2vid (Mallya et al., ECCV 2020) as in imaginaire: vid2vid plus guidance.

The guidance is an image + mask ``[N, 4, H, W]`` (RGB in [-1, 1], mask in {0, 1}): the colours that
earlier generated frames gave to 3D points of the world, projected into the current view. It is an
extra SPADE input of every up block (or only of the flow-combined ones with
``guidance_only_with_flow``), used once the flow path is active (from frame ``num_frames_G - 1``),
exactly when imaginaire uses it. Producing the guidance is not this module's job: the generator
stage renders it from its world, or, for imaginaire's precomputed data, from the unprojection
``.pkl`` files (:mod:`vidsynth.geometry.imaginaire_unprojection`), with the paper's rule that a point keeps the
first colour it was given.

Frames before the flow path is active come from a single-image SPADE model when the config has one
(imaginaire's project config), with one random style code per stream kept in the state
(``single_image_z``, next to vid2vid's previous labels and frames). The guidance is a per-frame
condition, never state: the world that renders it lives outside the network.

>>> import torch
>>> model = WCVid2VidGenerator(WCVid2VidConfig.tiny(label_channels=4)).eval()
>>> state = model.initial_state()
>>> for t in range(3):
...     guidance = torch.zeros(1, 4, 32, 64)
...     out, state = model.step({"label": torch.rand(1, 4, 32, 64), "guidance": guidance}, state)
>>> out["image"].shape
torch.Size([1, 3, 32, 64])
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, Mapping

import torch

from vidsynth.errors import VidsynthError

from .registry import register_model
from .spec import Condition, ModelSpec
from .vid2vid import VIDEO_OUTPUTS, Vid2VidConfig, Vid2VidGenerator, _get, vid2vid_fields_from_imaginaire
from .video_state import TensorDict, model_device_dtype

__all__ = ["WCVid2VidConfig", "WCVid2VidGenerator", "GUIDANCE_CHANNELS"]

GUIDANCE_CHANNELS = 4  # RGB in [-1, 1] + coverage mask in {0, 1}


@dataclass
class WCVid2VidConfig(Vid2VidConfig):
    """vid2vid config plus the guidance path (imaginaire's ``gen.guidance``) and the first-frame model."""

    guidance_only_with_flow: bool = False  # guidance only in the flow-combined up blocks
    single_image: Any = None               # SPADEConfig of the single-image model for the first frames, or None

    @classmethod
    def tiny(cls, **kw: Any) -> "WCVid2VidConfig":
        base = Vid2VidConfig.tiny()
        fields = {f: getattr(base, f) for f in base.__dataclass_fields__}
        fields.update(kw)
        return cls(**fields)

    @classmethod
    def from_imaginaire(cls, cfg: dict) -> "WCVid2VidConfig":
        """Our config from an imaginaire YAML (as a dict) of ``imaginaire.generators.wc_vid2vid``.

        The single-image model's own YAML (``gen.single_image_model.config``) is read from
        ``cfg['_root']`` (imaginaire's checkout) when that key is given.
        """
        guidance = _get(cfg["gen"], "guidance", {})
        if guidance.get("partial_conv", False):
            raise VidsynthError("wc-vid2vid with guidance.partial_conv=True is not supported; "
                                "use a model trained with partial_conv: False")
        single = None
        single_cfg = _get(cfg["gen"], "single_image_model", None)
        if single_cfg and cfg.get("_root"):
            from .imaginaire import read_imaginaire_yaml
            from .spade import SPADEConfig

            single = SPADEConfig.from_imaginaire(read_imaginaire_yaml(os.path.join(cfg["_root"], single_cfg["config"])))
        elif single_cfg:
            raise VidsynthError("this wc-vid2vid config has a single-image model; give imaginaire's checkout "
                                "(cfg['_root']) so its config can be read")
        return cls(**vid2vid_fields_from_imaginaire(cfg),
                   guidance_only_with_flow=bool(_get(guidance, "only_with_flow", False)), single_image=single)


@register_model("wc_vid2vid", WCVid2VidConfig)
class WCVid2VidGenerator(Vid2VidGenerator):
    """wc-vid2vid generator. ``step`` takes ``conditions = {'label', 'guidance'}`` (guidance optional)."""

    def __init__(self, cfg: WCVid2VidConfig):
        super().__init__(cfg)
        self.single_image_model = None
        if cfg.single_image is not None:
            from .spade import SPADE

            single = cfg.single_image
            if isinstance(single, Mapping):  # rebuilt from a model file's JSON config
                from .registry import config_from_dict
                from .spade import SPADEConfig

                single = config_from_dict(SPADEConfig, dict(single))
                self.config = replace(cfg, single_image=single)
            self.single_image_model = SPADE(single)

    def _spade_cond_dims(self, level: int) -> list[int]:
        dims = self.config.cond_dims(level)
        if min(level, self.config.embed.num_downsamples) < self.config.multi_spade_layers \
                or not self.config.guidance_only_with_flow:
            dims = dims + [GUIDANCE_CHANNELS]
        return dims

    def _extra_cond(self, level, warp_prev, cond_img, guidance):
        if not warp_prev:
            return []
        extra = super()._extra_cond(level, warp_prev, cond_img, guidance)
        flow_block = min(level, self.config.embed.num_downsamples) < self.config.multi_spade_layers
        if guidance is not None and (flow_block or not self.config.guidance_only_with_flow):
            extra = extra + [guidance]
        return extra

    def describe(self) -> ModelSpec:
        """vid2vid's label condition plus the guidance rendered from the world (optional)."""
        label = self._label_condition()
        guidance = Condition("guidance", reads="guidance", channels=GUIDANCE_CHANNELS, size=label.size, optional=True)
        return ModelSpec(kind="world_consistent", conditions=(label, guidance), outputs=VIDEO_OUTPUTS)

    def check_guidance(self, guidance: torch.Tensor | None, label: torch.Tensor) -> None:
        """Raise :class:`VidsynthError` unless ``guidance`` is [N, 4, H, W] like ``label``."""
        if guidance is None:
            return
        n, _, h, w = label.shape
        if not isinstance(guidance, torch.Tensor) or guidance.dim() != 4 or tuple(guidance.shape) != (n, 4, h, w):
            found = list(guidance.shape) if isinstance(guidance, torch.Tensor) else type(guidance).__name__
            raise VidsynthError(
                f"wc-vid2vid guidance must be [N, 4, H, W] = [{n}, 4, {h}, {w}] (RGB in [-1, 1] + coverage mask, "
                f"at the label's size), found {found}; render it at the model's size or pass None")

    def forward(self, label, prev_labels=None, prev_images=None, guidance=None, single_image_z=None):
        self.check_guidance(guidance, label)
        warp_prev = prev_labels is not None and prev_labels.shape[1] == self.config.num_frames_G - 1
        if self.single_image_model is not None and not warp_prev:
            if single_image_z is None:
                raise ValueError("this model starts streams with its single-image model: pass single_image_z")
            image = self.single_image_model.spade_generator(label, single_image_z)
            return {"image": image, "flow": None, "occlusion_mask": None, "warped_image": None}
        return super().forward(label, prev_labels, prev_images, guidance=guidance)

    def conditions_spec(self) -> dict[str, tuple]:
        spec = super().conditions_spec()
        spec["guidance"] = (GUIDANCE_CHANNELS,) + spec["label"][1:]  # optional
        return spec

    def initial_state(self, single_image_z: torch.Tensor | None = None, batch_size: int = 1) -> TensorDict:
        """A fresh stream: vid2vid's state, plus the single-image model's style code ``single_image_z``
        [1 or N, style_dims] (drawn here unless given) when the model has one."""
        state = super().initial_state(batch_size)
        if self.single_image_model is not None:
            if single_image_z is None:
                device, dtype = model_device_dtype(self)
                single_image_z = torch.randn(1, self.single_image_model.config.style_dims).to(device, dtype)
            state["single_image_z"] = single_image_z
        return state

    def reset(self, state: TensorDict | None = None) -> TensorDict:
        return self.initial_state()

    def _frame(self, conditions: dict[str, torch.Tensor], state: TensorDict) -> dict[str, Any]:
        """One frame from ``conditions['label']`` and optional ``conditions['guidance']`` [N,4,H,W]."""
        label = conditions["label"]
        z = state.get("single_image_z")
        if z is not None and z.shape[0] != label.shape[0]:
            z = z.expand(label.shape[0], -1)
        return self(label, *self._previous(state), guidance=conditions.get("guidance"), single_image_z=z)
