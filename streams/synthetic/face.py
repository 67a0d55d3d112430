"""A talking head: a textured face that speaks, blinks and moves, with dlib-68 landmarks per frame.

The head is a 3D set of dlib's 68 landmarks (jaw, brows, nose, eyes, lips) on an identity's face shape,
turned by a head pose (yaw, pitch, roll), moved and scaled, and projected orthographically. Speech moves
the jaw and lips (syllables at about 4 per second, in phrases with pauses), the eyes blink every few
seconds, the brows rise with stressed syllables, and the head nods and turns slowly. The face is drawn
from the same landmarks: a skin texture of the identity (warped with the head), hair, brows, eyes with
irises, nostrils, lips and the inside of the mouth, a neck and shoulders, on a static background.
Everything is a function of (seed, identity, background, frame index).

Per frame (:meth:`FaceWorld.frame`):

- ``image``: H×W×3 uint8 RGB;
- ``face``: (68, 3) float32, dlib-68 points in pixels of the image, each row (x, y, confidence);
  confidence 1 inside the image, a point outside is (0, 0, 0). Left/right are the face's own (the
  dlib convention: point 0 is at the image's left). ``vidsynth.engine``'s FaceLandmarks takes it as is
  (streams do not import the engine);
- ``face_mask``: H×W uint8, 255 on the head (face, hair, neck).

Options (``synthetic:face?identity=2&background=1``): ``identity`` (face shape, skin, hair, eyes, lips,
clothes), ``background`` (the backdrop), ``seed`` (the speech and motion), ``face_size`` (the face's
height as a fraction of the image's), ``motion`` (0: a still head that only speaks, 1: natural head
motion), ``approach`` (moves the head toward the camera and back: the face grows by this fraction),
``step_at`` (a frame at which the head moves sideways by ``step`` of the image width: a deliberate move).

>>> world = FaceWorld(FaceConfig(width=64, height=64))
>>> f = world.frame(3)
>>> f["image"].shape, f["face"].shape
((64, 64, 3), (68, 3))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidsynth.errors import VidsynthError

from . import WorldSource, config_factory, register_synthetic

# dlib-68 groups
JAW = tuple(range(0, 17))
RIGHT_BROW, LEFT_BROW = tuple(range(17, 22)), tuple(range(22, 27))
NOSE_BRIDGE, NOSTRILS = tuple(range(27, 31)), tuple(range(31, 36))
RIGHT_EYE, LEFT_EYE = tuple(range(36, 42)), tuple(range(42, 48))
OUTER_LIPS, INNER_LIPS = tuple(range(48, 60)), tuple(range(60, 68))
LOWER_LIP = (55, 56, 57, 58, 59, 65, 66, 67)

_SKINS = ((236, 196, 170), (205, 150, 115), (160, 110, 80), (110, 75, 55), (245, 215, 190), (190, 140, 100))
_HAIRS = ((40, 30, 25), (110, 70, 35), (200, 170, 110), (25, 25, 30), (150, 60, 30), (90, 90, 95))
_IRISES = ((70, 110, 160), (90, 60, 35), (80, 120, 80), (60, 45, 30))
_CLOTHES = ((60, 80, 140), (150, 40, 50), (50, 110, 80), (200, 200, 205), (90, 70, 120), (30, 30, 35))


@dataclass
class FaceConfig:
    """What to render.

    >>> FaceConfig(identity=3).identity
    3
    """

    width: int = 256              # image width in pixels
    height: int = 256             # image height in pixels
    frames: int = 300             # stream length
    fps: int = 25                 # nominal frame rate
    seed: int = 0                 # the speech, blinks and head motion
    identity: int = 0             # the person: face shape, skin, hair, eyes, lips, clothes
    background: int = 0           # the backdrop
    face_size: float = 0.42       # the face's height (brows to chin) as a fraction of the image height
    motion: float = 1.0           # head motion: 0 still (speech only), 1 natural
    approach: float = 0.0         # > 0: the head moves toward the camera and back, growing by this fraction
    step_at: int = -1             # >= 0: at this frame the head moves sideways by ``step`` (a deliberate move)
    step: float = 0.15            # the size of that move, as a fraction of the image width

    def validate(self) -> None:
        if not (16 <= self.width <= 8192 and 16 <= self.height <= 8192):
            raise VidsynthError(f"face: expected an image size between 16 and 8192 pixels, found "
                                f"{self.width}x{self.height}; pick another size")
        if self.frames < 1 or self.fps < 1:
            raise VidsynthError(f"face: expected frames >= 1 and fps >= 1, found {self.frames} and {self.fps}")
        if not 0.05 <= self.face_size <= 0.9:
            raise VidsynthError(f"face: expected face_size in [0.05, 0.9], found {self.face_size}")
        if self.motion < 0 or self.approach < 0 or self.identity < 0 or self.background < 0:
            raise VidsynthError("face: expected motion, approach, identity and background >= 0")


def _canonical_face() -> np.ndarray:
    """dlib-68 points of a neutral face, (68, 3): x right, y down, z toward the camera; the face spans
    about [-1, 1] in x and [-0.7, 1] in y (brows to chin), centred between the eyes and the mouth."""
    p = np.zeros((68, 3))
    for k in range(17):  # jaw: the face's right ear (image left), round the chin, to its left ear
        a = np.pi * (1.0 - k / 16.0)
        p[k] = (0.95 * np.cos(a), -0.25 + 1.2 * np.sin(a) ** 1.2, -0.55 + 0.6 * np.sin(a))
    for k in range(5):
        x = -0.78 + 0.13 * k
        p[17 + k] = (x, -0.62 - 0.08 * np.sin(np.pi * (k + 0.5) / 5), 0.15)
        p[22 + k] = (-x, -0.62 - 0.08 * np.sin(np.pi * (4 - k + 0.5) / 5), 0.15)
    p[22:27] = p[22:27][::-1].copy()  # the left brow runs from the inside out, as dlib's does
    for k in range(4):
        p[27 + k] = (0.0, -0.38 + 0.16 * k, 0.2 + 0.15 * k)
    for k in range(5):
        p[31 + k] = (-0.2 + 0.1 * k, 0.2 - 0.03 * (2 - abs(k - 2)) * -1, 0.45 - 0.04 * abs(k - 2))
    eye = [(-1.0, 0.0), (-0.45, -0.55), (0.45, -0.55), (1.0, 0.0), (0.45, 0.45), (-0.45, 0.45)]
    for k, (ex, ey) in enumerate(eye):  # right eye: outer corner (image left) first, clockwise
        p[36 + k] = (-0.4 + 0.19 * ex, -0.32 + 0.09 * ey, 0.1)
    left = [(-1.0, 0.0), (-0.45, -0.55), (0.45, -0.55), (1.0, 0.0), (0.45, 0.45), (-0.45, 0.45)]
    for k, (ex, ey) in enumerate(left):  # left eye: inner corner first
        p[42 + k] = (0.4 + 0.19 * ex, -0.32 + 0.09 * ey, 0.1)
    for k in range(12):  # outer lips: right corner, over the top, left corner, under the bottom
        a = np.pi * k / 6.0
        bump = 0.03 * np.cos(3 * a) if k < 7 else 0.0  # the cupid's bow
        p[48 + k] = (-0.36 * np.cos(a), 0.52 - (0.1 - bump) * np.sin(a), 0.3 + 0.08 * abs(np.sin(a)))
    for k in range(8):
        a = np.pi * k / 4.0
        p[60 + k] = (-0.25 * np.cos(a), 0.52 - 0.025 * np.sin(a), 0.33)
    return p


_CANONICAL = _canonical_face()


class FaceWorld:
    """The talking head of one (seed, identity, background): :meth:`frame` renders any frame index."""

    def __init__(self, config: FaceConfig | None = None):
        self.config = config or FaceConfig()
        self.config.validate()
        cfg = self.config
        ident = np.random.default_rng([cfg.identity, 11])
        self.skin = np.array(_SKINS[cfg.identity % len(_SKINS)], np.float64) * ident.uniform(0.92, 1.05)
        self.hair = np.array(_HAIRS[(cfg.identity * 5 + 1) % len(_HAIRS)], np.float64)
        self.iris = _IRISES[(cfg.identity * 3) % len(_IRISES)]
        self.clothes = _CLOTHES[(cfg.identity * 7 + 2) % len(_CLOTHES)]
        self.lips = np.clip(self.skin * np.array([0.85, 0.55, 0.55]) + np.array([25, 0, 5]), 0, 255)
        # the identity's face shape: width, jaw, eye spacing, nose and mouth placement
        shape = _CANONICAL.copy()
        width = ident.uniform(0.85, 1.15)
        shape[:, 0] *= width
        jaw = ident.uniform(0.9, 1.12)
        shape[list(JAW), 1] = np.where(shape[list(JAW), 1] > 0, shape[list(JAW), 1] * jaw, shape[list(JAW), 1])
        spacing = ident.uniform(-0.06, 0.06)
        for group, sign in ((RIGHT_EYE + RIGHT_BROW, -1), (LEFT_EYE + LEFT_BROW, 1)):
            shape[list(group), 0] += sign * spacing
        shape[list(OUTER_LIPS + INNER_LIPS), 1] += ident.uniform(-0.06, 0.06)
        shape[list(OUTER_LIPS + INNER_LIPS), 0] *= ident.uniform(0.85, 1.15)
        self.neutral = shape
        self.hair_style = int(ident.integers(0, 3))
        self.texture = self._skin_texture(ident)
        motion = np.random.default_rng([cfg.seed, 23])
        names = ("yaw", "pitch", "roll", "x", "y", "brow", "phrase", "wide")
        self._freq = {n: motion.uniform(0.08, 0.6, 3) for n in names}
        self._phase = {n: motion.uniform(0, 2 * np.pi, 3) for n in names}
        self._syllable = motion.uniform(3.2, 4.8)
        self._syllable_phase = motion.uniform(0, 2 * np.pi)
        self._blink_period = motion.uniform(2.5, 4.5)
        self._blink_phase = motion.uniform(0, 1)
        self._backdrop = self._background_image()

    def __len__(self) -> int:
        return self.config.frames

    # --- motion -------------------------------------------------------------------------------------

    def _signal(self, name: str, t: float) -> float:
        """A smooth value in about [-1, 1]."""
        return float(np.mean(np.sin(2 * np.pi * self._freq[name] * t + self._phase[name])) * 1.6)

    def expression(self, index: int) -> dict[str, float]:
        """The speech, blink and head pose of frame ``index`` (angles in radians, positions in image
        fractions)."""
        cfg = self.config
        t = index / cfg.fps
        phrase = 0.5 + 0.5 * np.tanh(3 * (self._signal("phrase", t) + 0.3))  # speaking or pausing
        syllable = max(0.0, np.sin(2 * np.pi * self._syllable * t + self._syllable_phase + 0.8 * np.sin(1.7 * t)))
        jaw = float(phrase * syllable ** 0.8)
        cycle = (t / self._blink_period + self._blink_phase) % 1.0
        blink = float(np.exp(-(((cycle - 0.5) * self._blink_period) / 0.06) ** 2))
        m = cfg.motion
        scale = 1.0
        if cfg.approach > 0:  # toward the camera and back over the clip, twice
            scale = 1.0 + cfg.approach * 0.5 * (1 - np.cos(4 * np.pi * index / max(cfg.frames - 1, 1)))
        x = 0.5 + 0.05 * m * self._signal("x", t)
        if cfg.step_at >= 0 and index >= cfg.step_at:
            x += cfg.step
        return {"jaw": jaw, "wide": 0.5 * self._signal("wide", t) * phrase, "blink": blink,
                "brow": max(0.0, self._signal("brow", t)) * 0.6 * phrase,
                "yaw": 0.25 * m * self._signal("yaw", t), "pitch": 0.12 * m * self._signal("pitch", t) + 0.05 * jaw * m,
                "roll": 0.08 * m * self._signal("roll", t), "x": float(x),
                "y": 0.47 + 0.03 * m * self._signal("y", t), "scale": float(scale)}

    def landmarks_3d(self, e: dict[str, float]) -> np.ndarray:
        """The identity's 68 points moved by an expression, before the head pose."""
        p = self.neutral.copy()
        open_ = e["jaw"] * 0.32
        chin = np.clip((p[list(JAW), 1] - 0.2) / 0.9, 0, 1)  # how much each jaw point follows the chin
        p[list(JAW), 1] += open_ * chin
        p[list(LOWER_LIP), 1] += open_ * np.array([0.8, 0.9, 1.0, 0.9, 0.8, 0.85, 0.95, 0.85])
        p[[61, 62, 63], 1] -= open_ * 0.08
        corners = (48, 54, 60, 64)
        mouth = list(OUTER_LIPS + INNER_LIPS)
        centre_x = p[mouth, 0].mean()
        widen = 1.0 + 0.15 * e["wide"] - 0.12 * e["jaw"]
        p[mouth, 0] = centre_x + (p[mouth, 0] - centre_x) * widen
        p[list(corners), 1] -= 0.04 * e["wide"]
        for upper, lower in (((37, 38), (41, 40)), ((43, 44), (47, 46))):  # the lids close toward the lower lid
            p[list(upper), 1] += (p[list(lower), 1] - p[list(upper), 1]) * 0.95 * e["blink"]
        p[list(RIGHT_BROW + LEFT_BROW), 1] -= 0.12 * e["brow"]
        return p

    def project(self, p3: np.ndarray, e: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) head points -> (N, 2) pixels, and the 2×3 affine of the face plane (z = 0)."""
        cfg = self.config
        cy, sy = np.cos(e["yaw"]), np.sin(e["yaw"])
        cp, sp = np.cos(e["pitch"]), np.sin(e["pitch"])
        cr, sr = np.cos(e["roll"]), np.sin(e["roll"])
        ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
        rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
        rot = rz @ rx @ ry
        s = cfg.face_size * cfg.height / 1.7 * e["scale"]  # the face spans 1.7 units, brows to chin
        centre = np.array([e["x"] * cfg.width, e["y"] * cfg.height])
        xy = centre + s * (p3 @ rot.T)[:, :2]
        affine = np.hstack([s * rot[:2, :2], centre[:, None]])
        return xy, affine

    # --- drawing ------------------------------------------------------------------------------------

    def _skin_texture(self, rng: np.random.Generator, size: int = 128) -> np.ndarray:
        """The identity's skin in face coordinates ([-1.3, 1.3]² mapped to size²): lit from the upper
        left, blotchy at low frequency, with freckles."""
        import cv2

        u = np.linspace(-1.3, 1.3, size)
        X, Y = np.meshgrid(u, u)
        light = 1.05 - 0.12 * (X + Y) / 2.6 - 0.18 * np.clip(X ** 2 + 0.6 * Y ** 2 - 0.5, 0, None)
        blotch = cv2.GaussianBlur(rng.normal(0, 1, (size, size)), (0, 0), size / 12)
        blotch /= max(np.abs(blotch).max(), 1e-6)
        tex = self.skin[None, None] * (light + 0.05 * blotch)[..., None]
        for _ in range(int(rng.integers(10, 40))):
            cx, cy = rng.uniform(0.2, 0.8, 2) * size
            cv2.circle(tex, (int(cx), int(cy)), 1, tuple(float(c) * 0.8 for c in self.skin), -1, cv2.LINE_AA)
        return tex.clip(0, 255).astype(np.float32)

    def _background_image(self) -> np.ndarray:
        """A static room-like backdrop: a gradient wall, a few soft shapes, a floor line."""
        import cv2

        cfg = self.config
        h, w = cfg.height, cfg.width
        rng = np.random.default_rng([cfg.background, 5])
        top, bottom = rng.uniform(60, 230, 3), rng.uniform(30, 200, 3)
        rows = np.linspace(0, 1, h)[:, None, None]
        img = np.broadcast_to(top * (1 - rows) + bottom * rows, (h, w, 3)).copy()
        for _ in range(int(rng.integers(2, 6))):  # shelves, frames, windows
            x0, y0 = rng.uniform(0, 1, 2) * (w, h)
            bw, bh = rng.uniform(0.08, 0.35, 2) * (w, h)
            colour = tuple(float(c) for c in rng.uniform(20, 240, 3))
            cv2.rectangle(img, (int(x0), int(y0)), (int(x0 + bw), int(y0 + bh)), colour, -1)
        img = cv2.GaussianBlur(img, (0, 0), max(0.6, w / 256))
        return img.round().clip(0, 255).astype(np.uint8)

    def frame(self, index: int) -> dict:
        """``image``, ``face`` and ``face_mask`` of frame ``index`` (see the module docstring)."""
        import cv2

        cfg = self.config
        if index < 0:
            raise VidsynthError(f"face: expected a frame index >= 0, found {index}")
        e = self.expression(index)
        p3 = self.landmarks_3d(e)
        xy, affine = self.project(p3, e)
        h, w = cfg.height, cfg.width
        image = self._backdrop.copy()
        mask = np.zeros((h, w), np.uint8)
        s = np.hypot(*affine[:, 0])  # pixels per face unit

        def poly(points) -> np.ndarray:
            return np.round(points * 16).astype(np.int32)  # 4 fractional bits: smooth sub-pixel motion

        # neck and shoulders (behind the head)
        chin = xy[8]
        neck_w = 0.55 * s
        neck = np.array([[chin[0] - neck_w, chin[1] - 0.5 * s], [chin[0] + neck_w, chin[1] - 0.5 * s],
                         [chin[0] + neck_w, chin[1] + 0.6 * s], [chin[0] - neck_w, chin[1] + 0.6 * s]])
        cv2.fillPoly(image, [poly(neck)], tuple(float(c) * 0.85 for c in self.skin), cv2.LINE_AA, 4)
        cv2.fillPoly(mask, [poly(neck)], 255, cv2.LINE_8, 4)
        shoulders = np.array([[chin[0] - 2.2 * s, h + s], [chin[0] - 1.6 * s, chin[1] + 0.55 * s],
                              [chin[0] + 1.6 * s, chin[1] + 0.55 * s], [chin[0] + 2.2 * s, h + s]])
        cv2.fillPoly(image, [poly(shoulders)], self.clothes, cv2.LINE_AA, 4)
        # the head: jaw, then the skull over the brows
        skull3 = np.array([(1.0 * np.cos(a), -0.25 - 1.15 * np.sin(a), -0.4) for a in np.linspace(0, np.pi, 15)])
        skull3[:, 0] *= np.abs(self.neutral[16, 0]) / 0.95
        skull, _ = self.project(skull3, e)
        head = np.concatenate([xy[list(JAW)], skull[1:-1]])
        hair_back = np.concatenate([skull * 1.0 + (skull - skull.mean(0)) * 0.12, xy[[16, 0]]])
        cv2.fillPoly(image, [poly(hair_back)], tuple(float(c) for c in self.hair), cv2.LINE_AA, 4)
        cv2.fillPoly(mask, [poly(hair_back)], 255, cv2.LINE_8, 4)
        head_mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(head_mask, [poly(head)], 255, cv2.LINE_AA, 4)
        tex_size = self.texture.shape[0]
        to_tex = np.array([[tex_size / 2.6, 0, tex_size / 2], [0, tex_size / 2.6, tex_size / 2], [0, 0, 1]])
        m = np.vstack([affine, [0, 0, 1]]) @ np.linalg.inv(to_tex)
        skin = cv2.warpAffine(self.texture, m[:2], (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = head_mask.astype(np.float32)[..., None] / 255.0
        image = (image * (1 - alpha) + skin * alpha).round().clip(0, 255).astype(np.uint8)
        mask |= head_mask
        # hair over the forehead
        fringe3 = np.array([(1.02 * np.cos(a), -0.25 - 1.17 * np.sin(a), -0.35) for a in np.linspace(0, np.pi, 15)])
        fringe3[:, 0] *= np.abs(self.neutral[16, 0]) / 0.95
        low = (-0.72, -0.85, -0.95)[self.hair_style]
        inner3 = np.array([(0.95 * np.cos(a), low - 0.25 * np.sin(a) ** 2, 0.1) for a in np.linspace(np.pi, 0, 15)])
        inner3[:, 0] *= np.abs(self.neutral[16, 0]) / 0.95
        fringe, _ = self.project(np.concatenate([fringe3, inner3]), e)
        cv2.fillPoly(image, [poly(fringe)], tuple(float(c) for c in self.hair), cv2.LINE_AA, 4)
        # brows
        brow = tuple(float(c) * 0.8 for c in self.hair)
        for group in (RIGHT_BROW, LEFT_BROW):
            cv2.polylines(image, [poly(xy[list(group)])], False, brow, max(1, int(round(0.07 * s))), cv2.LINE_AA, 4)
        # eyes: sclera, iris and pupil inside the lids, then the lid line
        for group in (RIGHT_EYE, LEFT_EYE):
            lids = xy[list(group)]
            eye_mask = np.zeros((h, w), np.uint8)
            cv2.fillPoly(eye_mask, [poly(lids)], 255, cv2.LINE_AA, 4)
            layer = image.copy()
            cv2.fillPoly(layer, [poly(lids)], (240, 238, 232), cv2.LINE_AA, 4)
            centre = lids.mean(0)
            r = 0.085 * s
            cv2.circle(layer, tuple(np.round(centre * 16).astype(int)), int(round(r * 16)), self.iris, -1, cv2.LINE_AA, 4)
            cv2.circle(layer, tuple(np.round(centre * 16).astype(int)), int(round(r * 8)), (15, 15, 15), -1, cv2.LINE_AA, 4)
            a = eye_mask.astype(np.float32)[..., None] / 255.0
            image = (image * (1 - a) + layer * a).round().astype(np.uint8)
            cv2.polylines(image, [poly(lids[[0, 1, 2, 3]])], False, (40, 30, 30), max(1, int(round(0.025 * s))),
                          cv2.LINE_AA, 4)
        # nose: a shaded ridge and the nostrils
        shade = tuple(float(c) * 0.82 for c in self.skin)
        cv2.polylines(image, [poly(xy[list(NOSE_BRIDGE)])], False, shade, max(1, int(round(0.03 * s))), cv2.LINE_AA, 4)
        cv2.polylines(image, [poly(xy[list(NOSTRILS)])], False, shade, max(1, int(round(0.03 * s))), cv2.LINE_AA, 4)
        for k in (32, 34):
            cv2.circle(image, tuple(np.round(xy[k] * 16).astype(int)), max(8, int(round(0.035 * s * 16))),
                       (70, 40, 35), -1, cv2.LINE_AA, 4)
        # mouth: lips, then the inside (dark, the upper teeth showing when open)
        cv2.fillPoly(image, [poly(xy[list(OUTER_LIPS)])], tuple(float(c) for c in self.lips), cv2.LINE_AA, 4)
        inner = xy[list(INNER_LIPS)]
        cv2.fillPoly(image, [poly(inner)], (60, 20, 25), cv2.LINE_AA, 4)
        if e["jaw"] > 0.15:
            teeth = np.array([inner[1], inner[2], inner[3], inner[3] + [0, 0.05 * s], inner[1] + [0, 0.05 * s]])
            cv2.fillPoly(image, [poly(teeth)], (235, 232, 220), cv2.LINE_AA, 4)
        face = np.zeros((68, 3), np.float32)
        inside = (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)
        face[inside, :2] = xy[inside]
        face[inside, 2] = 1.0
        return {"image": image, "face": face, "face_mask": mask}

    def background(self) -> np.ndarray:
        """The backdrop without the person (H×W×3 uint8)."""
        return self._backdrop.copy()


class FaceSource(WorldSource):
    """The talking head as a stream source: frames with image = RGB and conditions ``face`` ((68, 3)
    array) and ``face_mask``.

    >>> src = FaceSource(FaceConfig(width=32, height=32, frames=3))
    >>> info = src.open()
    >>> [f.index for f in src], sorted(next(iter(src)).conditions)
    ([0, 1, 2], ['face', 'face_mask'])
    """

    name = "face"
    config_cls = FaceConfig
    world_cls = FaceWorld
    condition_keys = ("face", "face_mask")


register_synthetic("face", config_factory("face", FaceConfig, FaceSource))
