"""Models addressable by name: the small trained models vidsynth ships, as ``demo:NAME``.

:data:`SHIPPED` maps each name to its file in ``engine/data/models/`` and one line saying what it is;
:func:`resolve_model` turns a name into that file's path and leaves a path as it is, so every job's
``--model`` takes either. ``vidsynth info`` lists the table.

>>> resolve_model("demo:street").endswith("vid2vid_street_128.safetensors")
True
>>> resolve_model("my_model.safetensors")
'my_model.safetensors'
"""

from __future__ import annotations

import os

from vidsynth.errors import VidsynthError

MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "models")

# name -> (file in engine/data/models/, what it is)
SHIPPED: dict[str, tuple[str, str]] = {
    "demo:street": ("vid2vid_street_128.safetensors",
                    "street video from a Cityscapes label video, 128x128 (trained on synthetic:street)"),
    "demo:dance": ("vid2vid_pose_64.safetensors",
                   "a dancer video from OpenPose body poses, 64x64 (trained on synthetic:puppet)"),
    "demo:talk": ("vid2vid_talk_128.safetensors",
                  "a talking head from dlib-68 face landmarks, 128x128 face crops pasted into a 256x256 frame "
                  "(trained on synthetic:face; vidsynth talk)"),
    "demo:spade": ("spade_street_128.safetensors",
                   "street pictures from Cityscapes label maps, frame by frame, 128x128 (trained on "
                   "synthetic:street)"),
}


def shipped_path(name: str) -> str:
    """The file of the shipped model ``name`` (a key of :data:`SHIPPED`)."""
    return os.path.join(MODELS_DIR, SHIPPED[name][0])


def resolve_model(spec: str) -> str:
    """A model given by name (``demo:street``) → its file; a path → itself (the loader checks it).

    A name with a ``:`` that is neither shipped nor an existing file is an error listing the known names.
    """
    spec = str(spec)
    if spec in SHIPPED:
        path = shipped_path(spec)
        if not os.path.isfile(path):
            raise VidsynthError(f"the shipped model {spec} ({path}) is missing from this installation; reinstall "
                                "vidsynth or give a model file")
        return path
    if ":" in spec and not os.path.exists(spec) and not os.path.splitdrive(spec)[0]:
        raise VidsynthError(f"unknown model name {spec!r}; expected a model file (.safetensors) or one of the shipped "
                            f"models: {', '.join(SHIPPED)} (vidsynth info lists them)")
    return spec


def describe_model_file(path: str):
    """What the model in a vidsynth model file is (a :class:`~vidsynth.networks.spec.ModelSpec`), read
    from its metadata without loading its weights; with the metadata itself: ``(spec, info)``."""
    from vidsynth.networks.model_file import read_model_info
    from vidsynth.networks.registry import describe_config

    info = read_model_info(path)
    return describe_config(info["model"], info["config"]), info


def shipped_models() -> dict[str, dict]:
    """name → {file, description, present, kind, reads, size}, for ``vidsynth info``."""
    models = {}
    for name, (_, text) in SHIPPED.items():
        path = shipped_path(name)
        entry = {"file": path, "description": text, "present": os.path.isfile(path)}
        if entry["present"]:
            spec, _ = describe_model_file(path)
            entry.update(kind=spec.kind, reads=spec.reads, size=list(spec.size) if spec.size else None)
        models[name] = entry
    return models
