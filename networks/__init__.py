"""vidsynth's networks: imaginaire's generators (one module per model), shared layers, discriminators,
the model registry, our model files and the imaginaire checkpoint import.

The public entry points are loaded lazily so ``import vidsynth.networks`` stays cheap:

    >>> from vidsynth.networks import build_model, save_model, load_model, convert_imaginaire
    >>> model = build_model("funit", {"num_filters": 4, "num_filters_mlp": 8, "style_dims": 8})
"""

from __future__ import annotations

import importlib

_LAZY = {
    "register_model": "vidsynth.networks.registry",
    "build_model": "vidsynth.networks.registry",
    "model_class": "vidsynth.networks.registry",
    "available_models": "vidsynth.networks.registry",
    "save_model": "vidsynth.networks.model_file",
    "load_model": "vidsynth.networks.model_file",
    "read_model_info": "vidsynth.networks.model_file",
    "convert_imaginaire": "vidsynth.networks.imaginaire",
    "config_from_imaginaire": "vidsynth.networks.imaginaire",
    "LabelLayout": "vidsynth.networks.labels",
    "Pix2PixHD": "vidsynth.networks.pix2pixhd",
    "Pix2PixHDConfig": "vidsynth.networks.pix2pixhd",
    "SPADE": "vidsynth.networks.spade",
    "SPADEConfig": "vidsynth.networks.spade",
    "UNIT": "vidsynth.networks.unit",
    "UNITConfig": "vidsynth.networks.unit",
    "MUNIT": "vidsynth.networks.munit",
    "MUNITConfig": "vidsynth.networks.munit",
    "FUNIT": "vidsynth.networks.funit",
    "FUNITConfig": "vidsynth.networks.funit",
    "COCOFUNIT": "vidsynth.networks.coco_funit",
    "COCOFUNITConfig": "vidsynth.networks.coco_funit",
    "Vid2VidGenerator": "vidsynth.networks.vid2vid",
    "Vid2VidConfig": "vidsynth.networks.vid2vid",
    "FewShotVid2VidGenerator": "vidsynth.networks.fs_vid2vid",
    "FewShotVid2VidConfig": "vidsynth.networks.fs_vid2vid",
    "WCVid2VidGenerator": "vidsynth.networks.wc_vid2vid",
    "WCVid2VidConfig": "vidsynth.networks.wc_vid2vid",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vidsynth.networks' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
