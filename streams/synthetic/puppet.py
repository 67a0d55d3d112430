"""A posed articulated puppet: a 2D capsule figure dancing on a background, with OpenPose keypoints.

The puppet has the joints of OpenPose's BODY_25 layout (nose, neck, shoulders, elbows, wrists, mid-hip,
hips, knees, ankles, eyes, ears, toes, heels), two 21-point hands and a 70-point face (dlib's 68 +
two pupils). Its joint angles follow a smooth random dance (a few sinusoids per joint, drawn from the
seed); limbs are drawn as shaded capsules (a darker rim, a lighter core), the head as a shaded disc,
on a vertical gradient with a floor. Everything is a function of (seed, frame index): frame i is the
same whenever it is rendered.

Per frame (:meth:`PuppetWorld.frame`):

- ``image``: H×W×3 uint8 RGB;
- ``pose``: the keypoints as plain numpy arrays, in pixels of the image, each row (x, y, confidence)::

      {'body': (25, 3), 'hand_left': (21, 3), 'hand_right': (21, 3), 'face': (70, 3)}

  Confidence is 1 for a point inside the image; a point outside is (0, 0, 0), OpenPose's "missing".
  Left/right are the puppet's own (it faces the camera, so its right side is on the image's left).
  This is the layout of OpenPose JSON files and of ``vidsynth.engine``'s PoseKeypoints (streams do not
  import the engine);
- ``person_mask``: H×W uint8, 255 on the puppet.

>>> world = PuppetWorld(PuppetConfig(width=64, height=64))
>>> f = world.frame(3)
>>> f["image"].shape, f["pose"]["body"].shape, f["pose"]["face"].shape
((64, 64, 3), (25, 3), (70, 3))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidsynth.errors import VidsynthError

from . import WorldSource, config_factory, register_synthetic

# BODY_25 indices
NOSE, NECK, RSHO, RELB, RWRI, LSHO, LELB, LWRI, MIDHIP, RHIP, RKNE, RANK, LHIP, LKNE, LANK = range(15)
REYE, LEYE, REAR, LEAR, LBIGTOE, LSMALLTOE, LHEEL, RBIGTOE, RSMALLTOE, RHEEL = range(15, 25)

# body proportions, in units of the figure's height
_TORSO, _NECK_HEAD, _HEAD_R = 0.30, 0.10, 0.065
_SHOULDER, _HIP = 0.11, 0.07
_UPPER_ARM, _FOREARM, _THIGH, _SHIN = 0.16, 0.15, 0.23, 0.22

# joint name -> (base angle in radians, amplitude); 0 points down the image, positive turns toward +x
_JOINTS = {
    "torso": (0.0, 0.12), "head": (0.0, 0.15),
    "r_upper_arm": (0.35, 0.9), "r_forearm": (0.3, 0.8), "l_upper_arm": (-0.35, 0.9), "l_forearm": (-0.3, 0.8),
    "r_thigh": (0.08, 0.3), "r_shin": (-0.05, 0.35), "l_thigh": (-0.08, 0.3), "l_shin": (0.05, 0.35),
    "r_hand": (0.0, 0.4), "l_hand": (0.0, 0.4),
}

# limb colours (RGB): a clothed figure, one colour per part so the mapping pose -> image is learnable
_COLORS = {"torso": (200, 60, 60), "arm": (230, 180, 140), "leg": (50, 70, 160), "head": (235, 190, 150),
           "hand": (225, 175, 135), "foot": (40, 40, 40)}


@dataclass
class PuppetConfig:
    """What to render.

    >>> PuppetConfig(width=128, height=128).figure_height
    0.8
    """

    width: int = 256              # image width in pixels
    height: int = 256             # image height in pixels
    frames: int = 300             # stream length
    fps: int = 30                 # nominal frame rate
    seed: int = 0                 # the dance (and the background tone)
    figure_height: float = 0.8    # the figure's height as a fraction of the image height
    tempo: float = 1.0            # speed of the dance (1 = about one move per second)
    background_seed: int | None = None  # the backdrop's tone (None: drawn from ``seed``); fix it to give
                                        # several dances one backdrop

    def validate(self) -> None:
        if not (8 <= self.width <= 8192 and 8 <= self.height <= 8192):
            raise VidsynthError(f"puppet: expected an image size between 8 and 8192 pixels, found "
                                f"{self.width}x{self.height}; pick another size")
        if self.frames < 1 or self.fps < 1:
            raise VidsynthError(f"puppet: expected frames >= 1 and fps >= 1, found {self.frames} and {self.fps}")
        if not 0.1 <= self.figure_height <= 1.0 or self.tempo <= 0:
            raise VidsynthError(f"puppet: expected figure_height in [0.1, 1] and tempo > 0, found "
                                f"{self.figure_height} and {self.tempo}")


def _dir(angle: float) -> np.ndarray:
    """Unit vector at ``angle`` from straight down (image y grows downward)."""
    return np.array([np.sin(angle), np.cos(angle)])


class PuppetWorld:
    """The dance of one seed: :meth:`frame` renders any frame index, independently of the others."""

    def __init__(self, config: PuppetConfig | None = None):
        self.config = config or PuppetConfig()
        self.config.validate()
        rng = np.random.default_rng(self.config.seed)
        # three sinusoids per joint angle, and for the root's sway and bounce: a smooth, non-repeating dance
        names = list(_JOINTS) + ["sway", "bounce"]
        self._freq = {n: rng.uniform(0.15, 0.9, 3) * self.config.tempo for n in names}
        self._phase = {n: rng.uniform(0, 2 * np.pi, 3) for n in names}
        self._weight = {n: rng.dirichlet(np.ones(3)) for n in names}
        tone = rng.uniform(0.2, 0.8, 3)
        if self.config.background_seed is not None:
            tone = np.random.default_rng([self.config.background_seed, 7]).uniform(0.2, 0.8, 3)
        self._background = tone

    def __len__(self) -> int:
        return self.config.frames

    def _signal(self, name: str, t: float) -> float:
        """A smooth value in [-1, 1] for ``name`` at time ``t`` seconds."""
        return float(np.sum(self._weight[name] * np.sin(2 * np.pi * self._freq[name] * t + self._phase[name])))

    def skeleton(self, index: int) -> dict[str, np.ndarray]:
        """The keypoints of frame ``index`` in pixels (before the visibility check)."""
        cfg = self.config
        t = index / cfg.fps
        size = cfg.figure_height * cfg.height
        ang = {n: base + amp * self._signal(n, t) for n, (base, amp) in _JOINTS.items()}
        hip = np.array([cfg.width * (0.5 + 0.12 * self._signal("sway", t)),
                        cfg.height * (0.5 + cfg.figure_height * 0.06) + 0.02 * size * self._signal("bounce", t)])
        body = np.zeros((25, 2))
        up = -_dir(ang["torso"])  # from the hip toward the neck
        side = np.array([-up[1], up[0]])  # toward the puppet's left (image right)
        body[MIDHIP] = hip
        body[NECK] = hip + up * _TORSO * size
        head_dir = -_dir(ang["torso"] + ang["head"])
        head = body[NECK] + head_dir * _NECK_HEAD * size
        head_side = np.array([-head_dir[1], head_dir[0]])
        body[NOSE] = head
        eye_up = head_dir * 0.25 * _HEAD_R * size
        body[REYE] = head - head_side * 0.35 * _HEAD_R * size + eye_up
        body[LEYE] = head + head_side * 0.35 * _HEAD_R * size + eye_up
        body[REAR] = head - head_side * 0.9 * _HEAD_R * size
        body[LEAR] = head + head_side * 0.9 * _HEAD_R * size
        # arms: the puppet's right arm is on the image's left
        for sho, elb, wri, s, key in ((RSHO, RELB, RWRI, -1, "r"), (LSHO, LELB, LWRI, 1, "l")):
            body[sho] = body[NECK] + s * side * _SHOULDER * size
            a1 = ang["torso"] + ang[f"{key}_upper_arm"] * s
            body[elb] = body[sho] + _dir(a1) * _UPPER_ARM * size
            body[wri] = body[elb] + _dir(a1 + ang[f"{key}_forearm"] * s) * _FOREARM * size
        for hp, kn, an, s, key in ((RHIP, RKNE, RANK, -1, "r"), (LHIP, LKNE, LANK, 1, "l")):
            body[hp] = hip + s * side * _HIP * size
            a1 = ang["torso"] + ang[f"{key}_thigh"] * s
            body[kn] = body[hp] + _dir(a1) * _THIGH * size
            body[an] = body[kn] + _dir(a1 + ang[f"{key}_shin"] * s) * _SHIN * size
        foot = 0.06 * size
        for an, big, small, heel, s in ((RANK, RBIGTOE, RSMALLTOE, RHEEL, -1), (LANK, LBIGTOE, LSMALLTOE, LHEEL, 1)):
            body[heel] = body[an] + np.array([-s * 0.2, 0.35]) * foot
            body[big] = body[an] + np.array([s * 0.55, 0.6]) * foot
            body[small] = body[an] + np.array([s * 0.95, 0.55]) * foot
        hands = {}
        for key, elb, wri, s in (("hand_right", RELB, RWRI, -1), ("hand_left", LELB, LWRI, 1)):
            forearm = body[wri] - body[elb]
            a = np.arctan2(forearm[0], forearm[1]) + ang["r_hand" if s < 0 else "l_hand"] * 0.5
            hands[key] = _hand(body[wri], a, 0.07 * size)
        face = _face(head, head_dir, _HEAD_R * size)
        return {"body": body, "hand_left": hands["hand_left"], "hand_right": hands["hand_right"], "face": face}

    def frame(self, index: int) -> dict:
        """``image``, ``pose`` and ``person_mask`` of frame ``index`` (see the module docstring)."""
        import cv2

        cfg = self.config
        if index < 0:
            raise VidsynthError(f"puppet: expected a frame index >= 0, found {index}")
        pts = self.skeleton(index)
        h, w = cfg.height, cfg.width
        image = self._background_image()
        mask = np.zeros((h, w), np.uint8)
        size = cfg.figure_height * h
        b = pts["body"]
        limb = max(2, int(round(0.045 * size)))
        parts = [  # back to front: legs, torso, arms, head
            ((RHIP, RKNE), "leg", limb * 1.3), ((RKNE, RANK), "leg", limb * 1.1),
            ((LHIP, LKNE), "leg", limb * 1.3), ((LKNE, LANK), "leg", limb * 1.1),
            ((RANK, RBIGTOE), "foot", limb * 0.8), ((LANK, LBIGTOE), "foot", limb * 0.8),
            ((MIDHIP, NECK), "torso", limb * 3.0), ((RSHO, LSHO), "torso", limb * 1.6), ((RHIP, LHIP), "torso", limb * 1.6),
            ((RSHO, RELB), "arm", limb), ((RELB, RWRI), "arm", limb * 0.9),
            ((LSHO, LELB), "arm", limb), ((LELB, LWRI), "arm", limb * 0.9),
        ]
        for (i, j), part, width in parts:
            _capsule(image, mask, b[i], b[j], width, _COLORS[part])
        for hand in (pts["hand_left"], pts["hand_right"]):
            for finger in range(5):
                chain = [0] + [1 + 4 * finger + k for k in range(4)]
                for a, c in zip(chain[:-1], chain[1:]):
                    _capsule(image, mask, hand[a], hand[c], max(1.0, limb * 0.35), _COLORS["hand"])
        _disc(image, mask, b[NOSE], _HEAD_R * size * 1.15, _COLORS["head"])
        for eye in (b[REYE], b[LEYE]):
            cv2.circle(image, _px(eye), max(1, int(round(0.008 * size))), (30, 30, 30), -1, cv2.LINE_AA)
        pose = {}
        for key, arr in pts.items():
            inside = (arr[:, 0] >= 0) & (arr[:, 0] <= w - 1) & (arr[:, 1] >= 0) & (arr[:, 1] <= h - 1)
            out = np.zeros((len(arr), 3), np.float32)
            out[inside, :2] = arr[inside]
            out[inside, 2] = 1.0
            pose[key] = out
        return {"image": image, "pose": pose, "person_mask": mask}

    def _background_image(self) -> np.ndarray:
        h, w = self.config.height, self.config.width
        rows = np.linspace(0.0, 1.0, h)[:, None]
        top = self._background * 255
        bottom = self._background[::-1] * 160
        img = (top[None, None] * (1 - rows[..., None]) + bottom[None, None] * rows[..., None])
        img = np.broadcast_to(img, (h, w, 3)).copy()
        floor = int(h * 0.82)
        img[floor:] = img[floor:] * 0.6 + np.array([90, 80, 70]) * 0.4  # the floor the puppet stands near
        return img.round().clip(0, 255).astype(np.uint8)


def _px(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def _capsule(image: np.ndarray, mask: np.ndarray, a: np.ndarray, b: np.ndarray, width: float, color) -> None:
    """A shaded capsule: a darker rim, then a lighter core (a cylinder lit from the front)."""
    import cv2

    wd = max(1, int(round(width)))
    dark = tuple(int(c * 0.65) for c in color)
    light = tuple(int(min(255, c * 1.1 + 10)) for c in color)
    cv2.line(image, _px(a), _px(b), dark, wd, cv2.LINE_AA)
    cv2.line(mask, _px(a), _px(b), 255, wd, cv2.LINE_8)
    if wd >= 3:
        cv2.line(image, _px(a), _px(b), color, max(1, int(wd * 0.7)), cv2.LINE_AA)
        cv2.line(image, _px(a), _px(b), light, max(1, int(wd * 0.3)), cv2.LINE_AA)


def _disc(image: np.ndarray, mask: np.ndarray, c: np.ndarray, r: float, color) -> None:
    import cv2

    rr = max(1, int(round(r)))
    cv2.circle(image, _px(c), rr, tuple(int(v * 0.7) for v in color), -1, cv2.LINE_AA)
    cv2.circle(image, _px(c - np.array([0.2, 0.2]) * r), max(1, int(rr * 0.75)), color, -1, cv2.LINE_AA)
    cv2.circle(mask, _px(c), rr, 255, -1, cv2.LINE_8)


def _hand(wrist: np.ndarray, angle: float, length: float) -> np.ndarray:
    """21 hand points (OpenPose order: wrist, then thumb, index, middle, ring, little, 4 joints each)."""
    pts = [wrist]
    for finger in range(5):
        a = angle + (finger - 2) * 0.28
        base = wrist + _dir(a) * length * (0.25 if finger == 0 else 0.45)
        for k in range(4):
            pts.append(base + _dir(a) * length * 0.16 * k)
    return np.array(pts)


# dlib-68 face points on a unit face (x right, y down, centred on the nose tip), plus two pupils
def _unit_face() -> np.ndarray:
    pts = []
    for k in range(17):  # jaw, from the face's right (image left) round the chin to its left
        a = np.pi * (1.0 - k / 16.0)
        pts.append((np.cos(a) * 0.9, 0.15 + np.sin(a) * 0.85))
    for k in range(5):   # right brow
        pts.append((-0.75 + 0.12 * k, -0.55 - 0.06 * np.sin(np.pi * k / 4)))
    for k in range(5):   # left brow
        pts.append((0.27 + 0.12 * k, -0.55 - 0.06 * np.sin(np.pi * k / 4)))
    for k in range(4):   # nose bridge
        pts.append((0.0, -0.4 + 0.12 * k))
    for k in range(5):   # nostrils
        pts.append((-0.2 + 0.1 * k, 0.05))
    for cx in (-0.4, 0.4):  # eyes, 6 points each
        for k in range(6):
            a = np.pi * k / 3.0
            pts.append((cx - np.cos(a) * 0.16, -0.3 - np.sin(a) * 0.06))
    for k in range(12):  # outer lip
        a = np.pi * k / 6.0
        pts.append((-np.cos(a) * 0.35, 0.45 - np.sin(a) * 0.12))
    for k in range(8):   # inner lip
        a = np.pi * k / 4.0
        pts.append((-np.cos(a) * 0.22, 0.45 - np.sin(a) * 0.05))
    pts.append((-0.4, -0.3))  # right pupil
    pts.append((0.4, -0.3))   # left pupil
    return np.array(pts)


_UNIT_FACE = _unit_face()


def _face(center: np.ndarray, up: np.ndarray, radius: float) -> np.ndarray:
    """The 70 face points around the head centre, turned with the head (``up`` points to the crown)."""
    down = -up
    right = np.array([down[1], -down[0]])  # image-right for an upright head
    return center + (_UNIT_FACE[:, :1] * right[None] + _UNIT_FACE[:, 1:] * down[None]) * radius * 0.8


class PuppetSource(WorldSource):
    """The puppet as a stream source: frames with image = RGB and conditions ``pose`` (the dict of
    keypoint arrays above) and ``person_mask``.

    >>> src = PuppetSource(PuppetConfig(width=32, height=32, frames=3))
    >>> info = src.open()
    >>> [f.index for f in src], sorted(next(iter(src)).conditions)
    ([0, 1, 2], ['person_mask', 'pose'])
    """

    name = "puppet"
    config_cls = PuppetConfig
    world_cls = PuppetWorld
    condition_keys = ("pose", "person_mask")


register_synthetic("puppet", config_factory("puppet", PuppetConfig, PuppetSource))
