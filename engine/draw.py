"""Drawing conditions as pictures: pose skeletons, face edge maps, masks, optical flow and label maps.

The skeleton and face-edge rasteriser follows the conventions imaginaire's pose and face data were
drawn with (OpenPose's limb order and colours; limbs as fitted line or parabola segments stamped with
a square brush; in colour drawings a pixel painted twice takes the mean of the two colours), because
the network inputs in :mod:`vidsynth.engine.conditioning` must match what imaginaire's checkpoints
were trained on. The same functions make the pictures a user sees, so what is shown is what the
network gets.

Stages: :class:`DrawPose`, :class:`DrawFace`, :class:`DrawMask`, :class:`DrawFlow`,
:class:`DrawLabels`. Each replaces ``frame.image`` with its drawing (``target="image"``, the default)
or stores it as ``frame.conditions[f"{key}_map"]`` (``target="condition"``) for side-by-side views.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from vidsynth.errors import VidsynthError
from vidsynth.streams.frame import Frame

from .stage import Stage

# --------------------------------------------------------------------------------------------------
# Skeleton tables (OpenPose BODY_25, hands, 70-point face; dlib-68 face parts)
# --------------------------------------------------------------------------------------------------

# BODY_25 limbs in the order of the 24 one-hot channels: 18 basic limbs, then the 6 foot limbs.
BODY25_LIMBS: tuple[tuple[int, int], ...] = (
    (17, 15), (15, 0), (0, 16), (16, 18),    # head
    (0, 1), (1, 8),                          # trunk
    (1, 2), (2, 3), (3, 4),                  # right arm
    (1, 5), (5, 6), (6, 7),                  # left arm
    (8, 9), (9, 10), (10, 11),               # right leg
    (8, 12), (12, 13), (13, 14),             # left leg
    (11, 24), (11, 22), (22, 23),            # right foot
    (14, 21), (14, 19), (19, 20),            # left foot
)
NUM_BASIC_LIMBS = 18
# OpenPose's colour for each limb above (RGB).
BODY25_LIMB_COLORS: tuple[tuple[int, int, int], ...] = (
    (153, 0, 153), (153, 0, 102), (102, 0, 153), (51, 0, 153),
    (153, 0, 51), (153, 0, 0),
    (153, 51, 0), (153, 102, 0), (153, 153, 0),
    (102, 153, 0), (51, 153, 0), (0, 153, 0),
    (0, 153, 51), (0, 153, 102), (0, 153, 153),
    (0, 102, 153), (0, 51, 153), (0, 0, 153),
    (0, 153, 153), (0, 153, 153), (0, 153, 153),
    (0, 0, 153), (0, 0, 153), (0, 0, 153),
)
# Hand: five chains from the wrist (thumb to little finger), one colour per finger.
HAND_CHAINS: tuple[tuple[int, ...], ...] = (
    (0, 1, 2, 3, 4), (0, 5, 6, 7, 8), (0, 9, 10, 11, 12), (0, 13, 14, 15, 16), (0, 17, 18, 19, 20),
)
HAND_COLORS: tuple[tuple[int, int, int], ...] = (
    (204, 0, 0), (163, 204, 0), (0, 204, 82), (0, 82, 204), (163, 0, 204),
)
# OpenPose 70-point face: parts, each a list of polylines (drawn as consecutive pairs).
FACE70_PARTS: tuple[tuple[tuple[int, ...], ...], ...] = (
    (tuple(range(0, 17)),),                                       # contour
    (tuple(range(17, 22)),),                                      # right brow
    (tuple(range(22, 27)),),                                      # left brow
    ((28, 31), tuple(range(31, 36)), (35, 28)),                   # nose
    ((36, 37, 38, 39), (39, 40, 41, 36)),                         # right eye
    ((42, 43, 44, 45), (45, 46, 47, 42)),                         # left eye
    (tuple(range(48, 55)), (54, 55, 56, 57, 58, 59, 48)),         # outer lips
)
# dlib-68 parts for the fs-vid2vid face edge map (polylines drawn as 3-point parabola pieces).
# With ``add_upper_face`` the contour continues over 15 mirrored points 68..82 and closes at 0.
DLIB68_PARTS: tuple[tuple[tuple[int, ...], ...], ...] = (
    (tuple(range(0, 17)),),
    (tuple(range(17, 22)),),
    (tuple(range(22, 27)),),
    ((28, 31), tuple(range(31, 36)), (35, 28)),
    ((36, 37, 38, 39), (39, 40, 41, 36)),
    ((42, 43, 44, 45), (45, 46, 47, 42)),
    (tuple(range(48, 55)), (54, 55, 56, 57, 58, 59, 48), tuple(range(60, 65)), (64, 65, 66, 67, 60)),
)
UPPER_FACE_CONTOUR = tuple(range(0, 17)) + tuple(range(68, 83)) + (0,)

# Confidence a keypoint must exceed to be drawn (OpenPose face points are noisier).
BODY_HAND_THRESHOLD = 0.01
FACE_THRESHOLD = 0.1


# --------------------------------------------------------------------------------------------------
# Rasteriser
# --------------------------------------------------------------------------------------------------

def _line(x, a, b):
    return a * x + b


def _parabola(x, a, b, c):
    return a * x ** 2 + b * x + c


def _fit_polynomial(x: np.ndarray, y: np.ndarray, quadratic: bool):
    """Coefficients (highest power first) of the line or parabola through the points.

    imaginaire's training maps were drawn with SciPy's iterative ``curve_fit``; its answers differ from
    the exact least-squares ones in the last bits, which moves a few pixels after truncation. So SciPy
    is used when installed (the maps then match imaginaire's exactly) and exact least squares otherwise.
    SciPy's ``leastsq`` is called directly, as ``curve_fit`` would call it (start at ones, no Jacobian):
    the same answer at a quarter of the cost, without the covariance ``curve_fit`` works out on top.
    """
    leastsq = _leastsq()
    if leastsq is not None:
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            return None
        curve = _parabola if quadratic else _line
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                coef, status = leastsq(lambda p: curve(x, *p) - y, np.ones(3 if quadratic else 2))
            except Exception:  # SciPy gives up on degenerate inputs: no curve, as in imaginaire
                return None
        return coef if status in (1, 2, 3, 4) else None  # curve_fit's test for "optimal parameters found"
    design = np.stack([x ** 2, x, np.ones_like(x)] if quadratic else [x, np.ones_like(x)], 1)
    try:
        return np.linalg.lstsq(design, y, rcond=None)[0]
    except np.linalg.LinAlgError:
        return None


@functools.lru_cache(maxsize=1)
def _leastsq():
    try:
        from scipy.optimize import leastsq
    except ImportError:
        return None
    return leastsq


def fit_curve(x, y) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Integer pixel coordinates of the line (2 points) or parabola (3 points) through the points.

    The curve is parametrised along the axis where consecutive points are farther apart, sampled at
    about one point per pixel, and truncated to integers. A parabola bending more steeply than
    ``|a| > 1`` is rejected (returns ``(None, None)``), as are degenerate fits.

    >>> fit_curve([0.0, 4.0], [0.0, 2.0])
    (array([0, 1, 2, 4]), array([0, 0, 1, 2]))
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if np.abs(x[:-1] - x[1:]).max() < np.abs(y[:-1] - y[1:]).max():
        cy, cx = fit_curve(y, x)
        if cy is None:
            return None, None
        return cx, cy
    quadratic = len(x) >= 3
    coef = _fit_polynomial(x, y, quadratic)
    if coef is None:
        return None, None
    if quadratic and abs(coef[0]) > 1:
        return None, None
    if x[0] > x[-1]:
        x = x[::-1]
    curve_x = np.linspace(x[0], x[-1], int(np.round(x[-1] - x[0])))
    curve_y = _parabola(curve_x, *coef) if quadratic else _line(curve_x, *coef)
    return curve_x.astype(int), curve_y.astype(int)


def stamp_curve(canvas: np.ndarray, cx, cy, width: int, color, end_points: bool = False) -> None:
    """Paint a curve's pixels with a square brush of ``2*width`` pixels (offsets -width..width-1).

    ``end_points`` adds discs of radius ``2*width`` at both ends (OpenPose's joints). ``canvas`` is
    H×W, H×W×1 or H×W×3 uint8 and is modified in place.
    """
    if cx is None or cx.size == 0:
        return
    square = np.arange(-width, width)
    _stamp(canvas, cy, cx, np.repeat(square, square.size), np.tile(square, square.size), color)
    if end_points:
        disc = np.arange(-2 * width, 2 * width)
        di, dj = np.repeat(disc, disc.size), np.tile(disc, disc.size)
        inside = di * di + dj * dj < 4 * width * width
        _stamp(canvas, np.array([cy[0], cy[-1]]), np.array([cx[0], cx[-1]]), di[inside], dj[inside], color)


def _stamp(canvas: np.ndarray, ys: np.ndarray, xs: np.ndarray, di: np.ndarray, dj: np.ndarray, color) -> None:
    """Paint the points shifted by each brush offset ``(di[k], dj[k])`` in turn, clipped to the canvas.

    In a colour drawing a shifted copy blends (mean, truncated) with the canvas wherever anything under it
    is already painted, so the copies are painted one after the other; a single-channel drawing only sets
    pixels, so all copies are painted at once. ``canvas`` is modified in place (also a non-contiguous view).
    """
    h, w = canvas.shape[0], canvas.shape[1]
    yy = np.clip(ys[None, :] + di[:, None], 0, h - 1)
    xx = np.clip(xs[None, :] + dj[:, None], 0, w - 1)
    if not isinstance(color, (list, tuple)):
        color = (color,) * 3
    if canvas.ndim == 3 and canvas.shape[2] == 3:
        # pixel rows of a flat (H*W, 3) view: one index per pixel gathers and scatters faster than (y, x)
        pixels = canvas.reshape(-1, 3) if canvas.flags.c_contiguous else None
        paint = np.asarray(color, np.uint16)
        for y, x in zip(yy, xx):
            if pixels is None:
                under = canvas[y, x]
                canvas[y, x] = ((under + paint) >> 1) if under.any() else color
            else:
                index = y * w + x
                under = pixels[index]
                pixels[index] = ((under + paint) >> 1) if under.any() else color
    else:
        canvas[yy.ravel(), xx.ravel()] = color[0]


def _pieces(polyline, length: int):
    """Split a polyline into overlapping pieces of ``length`` points (2: segments, 3: parabola pieces)."""
    for i in range(0, max(1, len(polyline) - 1), length - 1):
        yield list(polyline[i:i + length])


# --------------------------------------------------------------------------------------------------
# OpenPose skeletons
# --------------------------------------------------------------------------------------------------

def _valid_points(points: np.ndarray, groups, threshold: float) -> np.ndarray:
    """(N, 2) float64 coordinates with missing points zeroed; with ``groups`` a group is kept only whole."""
    out = np.zeros((points.shape[0], 2))
    if groups is None:
        keep = points[:, 2] > threshold
        out[keep] = points[keep, :2]
        return out
    for group in groups:
        idx = list(group)
        if (points[idx, 2] > threshold).all():
            out[idx] = points[idx, :2]
    return out


def draw_openpose(pose, size: tuple[int, int], channels: int = 3, basic_points_only: bool = False,
                  remove_face_labels: bool = False) -> np.ndarray:
    """Rasterise a :class:`~vidsynth.engine.extract.PoseKeypoints` at ``size = (H, W)`` (pixel coords).

    ``channels=3``: OpenPose's colour drawing (limb colours, finger colours, white face), uint8 H×W×3.
    ``channels=27``: one channel per body limb (0-23), left hand (24), right hand (25), face (26),
    each 0/255 uint8 (imaginaire vid2vid's pose label). Body stroke width grows with the body's
    height (1 px per 150), hands and face 1 px per 450.

    >>> from vidsynth.engine.extract import PoseKeypoints
    >>> draw_openpose(PoseKeypoints.empty(), (8, 8)).max()
    0
    """
    if channels not in (3, 27):
        raise VidsynthError(f"an OpenPose drawing has 3 (colour) or 27 (one-hot) channels, asked for {channels}")
    h, w = size
    one_hot = channels == 27
    canvas = np.zeros((h, w, channels), np.uint8)
    body = _valid_points(np.asarray(pose.body), None, BODY_HAND_THRESHOLD)
    hands = [_valid_points(np.asarray(p), HAND_CHAINS, BODY_HAND_THRESHOLD) for p in (pose.hand_left, pose.hand_right)]
    face_groups = [edge for part in FACE70_PARTS for edge in part]
    face = _valid_points(np.asarray(pose.face), face_groups, FACE_THRESHOLD)

    # Missing points sit at y=0, so a partly missing body counts from the top of the frame (kept as is:
    # the trained models saw strokes sized this way).
    body_height = int(body[:, 1].max() - body[:, 1].min())
    width = max(1, body_height // 150)
    limbs = BODY25_LIMBS[:NUM_BASIC_LIMBS] if basic_points_only else BODY25_LIMBS
    for k, limb in enumerate(limbs):
        x, y = body[list(limb), 0], body[list(limb), 1]
        if 0 in x:
            continue
        cx, cy = fit_curve(x, y)
        if one_hot:
            stamp_curve(canvas[:, :, k], cx, cy, width, 255, end_points=True)
        else:
            stamp_curve(canvas, cx, cy, width, BODY25_LIMB_COLORS[k], end_points=True)
    if basic_points_only:
        return canvas

    width = max(1, body_height // 450)
    for side, hand in enumerate(hands):
        target = canvas[:, :, 24 + side] if one_hot else canvas
        for finger, chain in enumerate(HAND_CHAINS):
            for seg in _pieces(chain, 2):
                x, y = hand[seg, 0], hand[seg, 1]
                if 0 in x:
                    continue
                cx, cy = fit_curve(x, y)
                stamp_curve(target, cx, cy, width, 255 if one_hot else HAND_COLORS[finger])
    if not remove_face_labels:
        target = canvas[:, :, 26] if one_hot else canvas
        for edge in face_groups:
            for seg in _pieces(edge, 2):
                x, y = face[seg, 0], face[seg, 1]
                if 0 in x:
                    continue
                cx, cy = fit_curve(x, y)
                stamp_curve(target, cx, cy, width, (255, 255, 255))
    return canvas


# --------------------------------------------------------------------------------------------------
# Face edge map (dlib 68)
# --------------------------------------------------------------------------------------------------

def upper_face_points(points68: np.ndarray) -> np.ndarray:
    """15 points mirroring the jaw (1..15) above the line between its ends at 2/3 of the depth.

    Returned in reverse order so the contour 0..16, 68..82, 0 closes around the forehead.
    """
    jaw = np.asarray(points68)[:17, :2].astype(np.int32)
    baseline = (jaw[0:1, 1] + jaw[-1:, 1]) / 2
    upper = jaw[1:-1].copy()
    upper[:, 1] = baseline + (baseline - upper[:, 1]) * 2 // 3
    return upper[::-1]


def draw_face_edges(points68, size: tuple[int, int], add_upper_face: bool = True,
                    width: int | None = None) -> np.ndarray:
    """fs-vid2vid's face edge map: dlib-68 parts drawn as 3-point parabola pieces, uint8 H×W (0/255).

    ``points68`` is (68, 2+) in pixels of the output. ``width`` defaults to 1 px per 256 rows.

    >>> import numpy as np
    >>> pts = np.stack([np.linspace(10, 50, 68), np.linspace(20, 40, 68)], 1)
    >>> draw_face_edges(pts, (64, 64)).max()
    255
    """
    h, w = size
    pts = np.asarray(points68)[:, :2]
    if pts.shape[0] != 68:
        raise VidsynthError(f"a face edge map needs the 68 dlib landmarks, found {pts.shape[0]} points")
    parts = DLIB68_PARTS
    if add_upper_face:
        pts = np.vstack([pts, upper_face_points(pts)])
        parts = ((UPPER_FACE_CONTOUR,),) + DLIB68_PARTS[1:]
    width = max(1, h // 256) if width is None else width
    canvas = np.zeros((h, w), np.uint8)
    for part in parts:
        for edge in part:
            for piece in _pieces(edge, 3):
                cx, cy = fit_curve(pts[piece, 0], pts[piece, 1])
                stamp_curve(canvas, cx, cy, width, 255)
    return canvas


# --------------------------------------------------------------------------------------------------
# Masks, flow, labels
# --------------------------------------------------------------------------------------------------

def draw_mask(mask: np.ndarray, image: np.ndarray | None = None, color=(0, 255, 0), alpha: float = 0.5) -> np.ndarray:
    """A person mask as a picture: white on black, or tinted over ``image`` with ``alpha``.

    ``mask`` is H×W uint8 (0/255) or float in [0, 1].
    """
    m = np.asarray(mask)
    m = m.astype(np.float32) / 255.0 if m.dtype == np.uint8 else np.clip(m.astype(np.float32), 0, 1)
    if image is None:
        return np.repeat((m * 255 + 0.5).astype(np.uint8)[:, :, None], 3, 2)
    a = (alpha * m)[:, :, None]
    out = image.astype(np.float32) * (1 - a) + np.asarray(color, np.float32) * a
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _color_wheel() -> np.ndarray:
    # Middlebury's hue wheel: red-yellow-green-cyan-blue-magenta segments of these lengths.
    segments = ((15, (255, 0, 0), (255, 255, 0)), (6, (255, 255, 0), (0, 255, 0)), (4, (0, 255, 0), (0, 255, 255)),
                (11, (0, 255, 255), (0, 0, 255)), (13, (0, 0, 255), (255, 0, 255)), (6, (255, 0, 255), (255, 0, 0)))
    rows = []
    for n, start, end in segments:
        t = np.arange(n)[:, None] / n
        rows.append(np.asarray(start) * (1 - t) + np.asarray(end) * t)
    return np.concatenate(rows, 0)  # (55, 3) in [0, 255]


def flow_to_color(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Middlebury-style colour coding of an H×W×2 flow: hue = direction, saturation = speed.

    Speeds are divided by ``max_magnitude`` (default: the frame's largest); zero flow is white.

    >>> flow_to_color(np.zeros((2, 2, 2), np.float32))[0, 0].tolist()
    [255, 255, 255]
    """
    f = np.asarray(flow, np.float32)
    if f.ndim != 3 or f.shape[2] != 2:
        raise VidsynthError(f"flow must be H×W×2 (dx, dy), found shape {f.shape}")
    u, v = f[..., 0], f[..., 1]
    mag = np.sqrt(u * u + v * v)
    scale = max_magnitude if max_magnitude else max(float(mag.max()), 1e-6)
    rad = mag / scale
    wheel = _color_wheel()
    n = wheel.shape[0]
    angle = np.arctan2(-v, -u) / np.pi                     # in [-1, 1]
    pos = (angle + 1) / 2 * (n - 1)
    k0 = np.floor(pos).astype(int)
    k1 = (k0 + 1) % n
    frac = (pos - k0)[..., None]
    col = ((1 - frac) * wheel[k0] + frac * wheel[k1]) / 255.0
    r = rad[..., None]
    col = np.where(r <= 1, 1 - r * (1 - col), col * 0.75)  # beyond the scale: darker, saturated
    return np.clip(col * 255 + 0.5, 0, 255).astype(np.uint8)


def colorize_labels(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """H×W integer label map -> H×W×3 uint8 picture; ids outside the palette are black.

    >>> colorize_labels(np.array([[0, 1]]), np.array([[0, 0, 0], [255, 0, 0]], np.uint8))[0, 1].tolist()
    [255, 0, 0]
    """
    pal = np.asarray(palette, np.uint8)
    lab = np.asarray(labels).astype(np.int64)
    out = np.zeros(lab.shape + (3,), np.uint8)
    inside = (lab >= 0) & (lab < len(pal))
    out[inside] = pal[lab[inside]]
    return out


# --------------------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------------------

TARGETS = ("image", "condition")


def _check_target(target: str) -> str:
    if target not in TARGETS:
        raise VidsynthError(f"a drawing target is 'image' (replace the frame) or 'condition' (keep both), "
                            f"found '{target}'")
    return target


class _DrawStage(Stage):
    """Shared plumbing: find the condition, draw it, put the picture where ``target`` says."""

    key = ""

    def __init__(self, key: str | None = None, target: str = "image"):
        self.key = key or self.key
        self.target = _check_target(target)

    def draw(self, value, frame: Frame) -> np.ndarray:
        raise NotImplementedError

    def _size(self, frame: Frame) -> tuple[int, int]:
        image = frame.image
        if image is None or not hasattr(image, "shape"):
            raise VidsynthError(f"{self.name} draws at the frame's size but frame {frame.index} has no image")
        return int(image.shape[0]), int(image.shape[1])

    def process(self, frame: Frame) -> Frame:
        if self.key not in frame.conditions:
            raise VidsynthError(
                f"{self.name} expected frame {frame.index} to carry the condition '{self.key}', found "
                f"{sorted(frame.conditions) or 'none'}; put the matching extractor before it"
            )
        picture = self.draw(frame.conditions[self.key], frame)
        if self.target == "image":
            return frame.with_image(picture)
        frame.conditions[f"{self.key}_map"] = picture
        return frame


class DrawPose(_DrawStage):
    """Draw ``conditions['pose']`` in OpenPose's colours (black background, frame size)."""

    key = "pose"

    def __init__(self, key: str | None = None, target: str = "image", basic_points_only: bool = False,
                 remove_face_labels: bool = False):
        super().__init__(key, target)
        self.basic_points_only = basic_points_only
        self.remove_face_labels = remove_face_labels

    def draw(self, value, frame: Frame) -> np.ndarray:
        return draw_openpose(value, self._size(frame), 3, self.basic_points_only, self.remove_face_labels)


class DrawFace(_DrawStage):
    """Draw ``conditions['face']`` (dlib 68) as fs-vid2vid's white-on-black face edge map."""

    key = "face"

    def __init__(self, key: str | None = None, target: str = "image", add_upper_face: bool = True):
        super().__init__(key, target)
        self.add_upper_face = add_upper_face

    def draw(self, value, frame: Frame) -> np.ndarray:
        size = self._size(frame)
        if value.is_empty:
            return np.zeros(size + (3,), np.uint8)
        edges = draw_face_edges(value.xy, size, self.add_upper_face)
        return np.repeat(edges[:, :, None], 3, 2)


class DrawMask(_DrawStage):
    """Draw ``conditions['person_mask']``: white on black, or tinted over the image with ``overlay``."""

    key = "person_mask"

    def __init__(self, key: str | None = None, target: str = "image", overlay: bool = False):
        super().__init__(key, target)
        self.overlay = overlay

    def draw(self, value, frame: Frame) -> np.ndarray:
        return draw_mask(value, frame.image if self.overlay else None)


class DrawFlow(_DrawStage):
    """Draw ``conditions['flow']`` on the Middlebury colour wheel (``max_magnitude`` fixes the scale)."""

    key = "flow"

    def __init__(self, key: str | None = None, target: str = "image", max_magnitude: float | None = None):
        super().__init__(key, target)
        self.max_magnitude = max_magnitude

    def draw(self, value, frame: Frame) -> np.ndarray:
        return flow_to_color(value, self.max_magnitude)


class DrawLabels(_DrawStage):
    """Colour ``conditions['labels']`` with a palette (a name such as ``"cityscapes"``, a JSON path or an array)."""

    key = "labels"

    def __init__(self, key: str | None = None, target: str = "image", palette="cityscapes"):
        super().__init__(key, target)
        from .extract.labels import load_palette

        self.palette = palette if isinstance(palette, np.ndarray) else load_palette(palette).colors

    def draw(self, value, frame: Frame) -> np.ndarray:
        return colorize_labels(value, self.palette)
