"""Encoders that turn conditions into network inputs, shared by inference and training.

They follow imaginaire's conventions, so its checkpoints see the inputs they were trained on:

- label maps (one-hot, don't-care, instance edges) are encoded by the models' own
  :class:`vidsynth.networks.labels.LabelLayout`, so a model and its data always agree;
- :func:`pose_label`: OpenPose keypoints -> vid2vid's 27-channel pose label (24 limb channels, two
  hands, the face; values 0/1) or the 3-channel colour drawing fs-vid2vid's pose model uses.
- :func:`densepose_standin`: three DensePose-like channels made from a person mask, for checkpoints
  that expect DensePose (none can be extracted here); warns once.
- :func:`fs_vid2vid_pose_label`: DensePose (3) + OpenPose colour (3) -> fs-vid2vid's 6-channel
  input in ``[-1, 1]``.
- :func:`face_label`: dlib-68 -> fs-vid2vid's face edge map ``[1, H, W]`` in ``{0, 1}``.

All keypoints are in pixels of the output map: crop and resize them first (``crop_resize``).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from vidsynth.errors import VidsynthError

from .draw import draw_face_edges, draw_openpose


def pose_label(pose, size: tuple[int, int], channels: int = 27, basic_points_only: bool = False,
               remove_face_labels: bool = False) -> torch.Tensor:
    """OpenPose keypoints -> ``[channels, H, W]`` float in [0, 1].

    ``channels=27``: vid2vid pose (channels 0-23 body and feet limbs, 24 left hand, 25 right hand,
    26 face). ``channels=3``: the OpenPose colour drawing (fs-vid2vid pose's OpenPose part).

    >>> from vidsynth.engine.extract import PoseKeypoints
    >>> pose_label(PoseKeypoints.empty(), (16, 16)).shape
    torch.Size([27, 16, 16])
    """
    drawing = draw_openpose(pose, size, channels, basic_points_only, remove_face_labels)
    return torch.from_numpy(drawing.transpose(2, 0, 1).astype(np.float32) / 255.0)


def face_label(landmarks, size: tuple[int, int], add_upper_face: bool = True) -> torch.Tensor:
    """dlib-68 landmarks (a :class:`FaceLandmarks` or a (68, 2+) array, pixels) -> ``[1, H, W]`` edge map.

    An empty :class:`FaceLandmarks` gives an all-zero map.
    """
    points = getattr(landmarks, "points", landmarks)
    points = np.asarray(points)
    if hasattr(landmarks, "is_empty") and landmarks.is_empty:
        return torch.zeros(1, *size)
    edges = draw_face_edges(points, size, add_upper_face)
    return torch.from_numpy(edges.astype(np.float32) / 255.0)[None]


# DensePose part ids (channel 2 of imaginaire's DensePose PNGs, 0 = background, 1..24 parts).
DENSEPOSE_TORSO_PART = 2
_STANDIN_WARNED = False


def densepose_standin(person_mask, part_id: int = DENSEPOSE_TORSO_PART, uv: float = 0.5,
                      warn: bool = True) -> torch.Tensor:
    """A DensePose-like ``[3, H, W]`` in imaginaire's stored form (PNG value / 255) from a person mask.

    DensePose cannot be extracted here, so every person pixel gets one body part (``part_id``, the
    torso by default) and constant U, V coordinates; the background is 0. Checkpoints trained with
    real DensePose degrade with it, hence the warning.
    """
    global _STANDIN_WARNED
    if warn and not _STANDIN_WARNED:
        warnings.warn("DensePose is not available: using a stand-in made from the person mask "
                      "(one body part, constant UV); results of DensePose-trained models will be degraded",
                      stacklevel=2)
        _STANDIN_WARNED = True
    m = np.asarray(person_mask)
    on = torch.from_numpy((m > 127) if m.dtype == np.uint8 else (m > 0.5))
    out = torch.zeros(3, *on.shape)
    out[0][on] = round(uv * 255) / 255.0
    out[1][on] = round(uv * 255) / 255.0
    out[2][on] = part_id / 255.0
    return out


def preprocess_densepose(label: torch.Tensor) -> torch.Tensor:
    """fs-vid2vid's input scaling of ``[..., C, H, W]`` whose first 3 channels are DensePose (value/255).

    The part-id channel (2) is stretched from ids 0..24 to the full range, then every channel is
    mapped from [0, 1] to [-1, 1].
    """
    out = label.clone()
    part = out[..., 2, :, :] * 255
    if (part < 0).any() or (part >= 25).any():
        raise VidsynthError("DensePose channel 2 must hold part ids 0..24 (as value/255); found values outside")
    out[..., 2, :, :] = out[..., 2, :, :] * (255 / 24)
    return out * 2 - 1


def fs_vid2vid_pose_label(densepose: torch.Tensor, pose, size: tuple[int, int],
                          remove_face_labels: bool = True) -> torch.Tensor:
    """fs-vid2vid pose input ``[6, H, W]`` in [-1, 1]: DensePose (3, value/255) then OpenPose colour (3)."""
    if tuple(densepose.shape[-2:]) != tuple(size):
        raise VidsynthError(f"DensePose map is {tuple(densepose.shape[-2:])} but the label size is {tuple(size)}")
    openpose = pose_label(pose, size, channels=3, remove_face_labels=remove_face_labels)
    return preprocess_densepose(torch.cat([densepose.float(), openpose], 0))
