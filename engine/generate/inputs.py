"""What a generator reads from a frame, and how it becomes the network's input at the model's size.

Every model reads one kind of conditioning, which its description names (``describe().reads``):

- ``labels``: a segmentation id map (``frame.conditions['labels']``);
- ``pose``: OpenPose keypoints (``conditions['pose']``, plus ``person_mask`` for DensePose-trained
  models);
- ``face``: dlib-68 landmarks (``conditions['face']``);
- ``image``: the picture itself.

:func:`input_kind` tells which from the model; :class:`InputEncoder` cuts the frame's conditioning to a
:class:`~vidsynth.engine.fitting.Placement` and encodes it exactly as the training code does (the
encoders in :mod:`vidsynth.engine.conditioning`). Keypoints are moved into the model's frame and drawn
there, so thin limbs stay one model pixel wide whatever the input size.
"""

from __future__ import annotations

import numpy as np
import torch

from vidsynth.errors import VidsynthError

from .. import conditioning
from ..fitting import Placement, keypoint_bbox
from ..tensors import image_to_tensor

KINDS = ("labels", "pose", "face", "image")


def input_kind(model) -> str:
    """The conditioning ``model`` reads (labels, pose, face or image), from its description."""
    from vidsynth.networks.registry import describe_model

    return describe_model(model).reads


def condition_key(kind: str) -> str:
    """The ``frame.conditions`` key a kind is read from (``image`` reads ``frame.image``)."""
    return {"labels": "labels", "pose": "pose", "face": "face", "image": "image"}[kind]


def subject_bbox(frame, kind: str):
    """The bounding box of the person (pose) or face in a frame, or None when there is none."""
    if kind == "pose":
        pose = frame.conditions.get("pose")
        return None if pose is None or pose.is_empty else keypoint_bbox(
            np.concatenate([pose.body, pose.face, pose.hand_left, pose.hand_right]))
    if kind == "face":
        face = frame.conditions.get("face")
        return None if face is None or face.is_empty else keypoint_bbox(face.points)
    return None


class InputEncoder:
    """Turns a frame's conditioning into the label tensor ``[1, C, h, w]`` a video/segmentation model takes.

    ``channels`` is the model's label channel count; it picks the pose layout (27: vid2vid's one-hot
    limbs; 30: DensePose stand-in + 27; 6: fs-vid2vid's DensePose stand-in + OpenPose colours) and the
    one-hot width of label maps.
    """

    def __init__(self, kind: str, channels: int):
        if kind not in KINDS:
            raise VidsynthError(f"unknown input kind {kind!r}; expected one of {', '.join(KINDS)}")
        if kind == "pose" and channels not in (27, 30, 6, 3):
            raise VidsynthError(f"a pose model must take 27 (OpenPose), 30 (DensePose + OpenPose), 6 (few-shot "
                                f"DensePose + colour OpenPose) or 3 label channels; this one takes {channels}")
        self.kind, self.channels = kind, channels

    def require(self, frame) -> None:
        """Raise a clear error when the frame lacks what this model reads."""
        if self.kind == "image":
            if frame.image is None:
                raise VidsynthError(f"frame {frame.index} has no picture for this translation model")
            return
        if condition_key(self.kind) not in frame.conditions:
            how = {"labels": "give a label video/folder as --input (or a LabelDecoder stage)",
                   "pose": "add a PoseExtractor stage (the CLI does this for pose models)",
                   "face": "add a FaceExtractor stage (the CLI does this for face models)"}[self.kind]
            raise VidsynthError(f"frame {frame.index} has no '{condition_key(self.kind)}' condition, which this "
                                f"model reads; {how}")

    def label_ids(self, frame, placement: Placement) -> torch.Tensor:
        """The frame's label map cut to the placement: int64 ``[1, h, w]``."""
        ids = np.asarray(frame.conditions["labels"])
        if ids.ndim == 3:
            ids = ids[..., 0]
        t = torch.from_numpy(ids.astype(np.int64))[None, None]
        return placement.crop(t, nearest=True, pad_value=0)[:, 0]

    def image(self, frame, placement: Placement) -> torch.Tensor:
        """The frame's picture cut to the placement, ``[1, 3, h, w]`` in [-1, 1] (padding is black)."""
        return placement.crop(image_to_tensor(frame.image), pad_value=-1.0)

    def encode(self, frame, placement: Placement) -> torch.Tensor:
        """The label tensor ``[1, C, h, w]`` for video models (one-hot labels, drawn pose or face)."""
        h, w = placement.dst_hw
        if self.kind == "labels":
            from vidsynth.networks.labels import LabelLayout  # the models' own label encoding

            return LabelLayout(num_classes=self.channels).encode(self.label_ids(frame, placement))
        sx, sy = placement.scale
        offset = placement.box[:2]
        if self.kind == "face":
            face = frame.conditions["face"].transformed((sx, sy), offset)
            return conditioning.face_label(face, (h, w))[None]
        pose = frame.conditions["pose"].transformed((sx, sy), offset)
        if self.channels == 27:
            return conditioning.pose_label(pose, (h, w), channels=27)[None]
        if self.channels == 3:
            return conditioning.pose_label(pose, (h, w), channels=3)[None]
        dense = conditioning.densepose_standin(self._mask(frame, placement))
        if self.channels == 30:
            return torch.cat([dense, conditioning.pose_label(pose, (h, w), channels=27)])[None]
        return conditioning.fs_vid2vid_pose_label(dense, pose, (h, w))[None]

    def _mask(self, frame, placement: Placement) -> np.ndarray:
        mask = frame.conditions.get("person_mask")
        if mask is None:
            raise VidsynthError(f"frame {frame.index}: this pose model was trained with DensePose, which vidsynth "
                                "replaces by a stand-in made from the person mask; add a PersonMaskExtractor stage")
        m = torch.from_numpy(np.asarray(mask, dtype=np.float32))[None, None]
        return placement.crop(m, nearest=True).numpy()[0, 0]
