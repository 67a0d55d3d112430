"""One person chosen and kept across frames, and their pose, on footage with several people in view.

MediaPipe's legacy Pose sees one person per image and needs that person to fill a good part of it: on a
full street frame with several small people it finds nobody. So the frame is searched for people first
(OpenCV's HOG people detector, which ships inside opencv), one person is chosen (the largest, the most
central, or the N-th from the left with ``person``), and pose runs on a crop around that person only;
the keypoints are mapped back to the full frame.

Keeping the person: between detections the crop follows the person's own keypoints; each detection is
matched to the chosen person by overlap and distance, never by rank, so another person walking past or
standing closer never takes over. Only when the chosen person has been out of sight for ``lost_after``
frames is a person chosen again (counted as ``rechosen``).

Frames where nobody is posed are counted (``no_person``, and ``too_small`` when the only people in view
are too small to pose), reported in the run's metrics, and warned about once they pass ``warn_fraction``
of the frames.

>>> from vidsynth.engine.extract.person import PersonTrack
>>> track = PersonTrack(choose="largest")
>>> track.choose([(0, 0, 10, 40, 1.0), (50, 0, 80, 90, 1.0)], frame_wh=(100, 100))
(50.0, 0.0, 80.0, 90.0)
>>> track.match([(52, 2, 82, 92, 1.0), (0, 0, 10, 40, 1.0)])
(52.0, 2.0, 82.0, 92.0)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from vidsynth.errors import VidsynthError
from vidsynth.streams.frame import Frame

from ..stage import Stage
from ._common import mediapipe_solutions, rgb_image
from .keypoints import PoseKeypoints
from .pose import PoseExtractorConfig, _check_pose_model_present, pose_from_holistic

log = logging.getLogger(__name__)

CHOICES = ("largest", "central")
Box = tuple  # (x0, y0, x1, y1) in frame pixels


# -- finding people -----------------------------------------------------------------------------------


class PeopleDetector:
    """Upright people in an RGB image: OpenCV's HOG + linear SVM detector (Dalal and Triggs), no download.

    The detector's window is 64×128; people shorter than about 100 px are found by upscaling the image
    first (``upscale``). Returns boxes ``(x0, y0, x1, y1, score)`` in the image's pixels, overlapping
    boxes merged (non-maximum suppression).

    >>> PeopleDetector(upscale=1.0).detect(np.zeros((128, 96, 3), np.uint8))
    []
    """

    def __init__(self, upscale: float = 1.5, min_score: float = 0.5, overlap: float = 0.4):
        if not 0.5 <= upscale <= 4:
            raise VidsynthError(f"the people detector's upscale must be between 0.5 and 4, found {upscale}")
        self.upscale, self.min_score, self.overlap = upscale, min_score, overlap
        self._hog = None

    def detect(self, image: np.ndarray) -> list[Box]:
        import cv2

        if self._hog is None:
            self._hog = cv2.HOGDescriptor()
            self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        s = self.upscale
        big = image if s == 1 else cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
        if big.shape[0] < 128 or big.shape[1] < 64:
            return []
        gray = cv2.cvtColor(big, cv2.COLOR_RGB2GRAY)
        rects, weights = self._hog.detectMultiScale(gray, winStride=(8, 8), padding=(8, 8), scale=1.05)
        boxes = [(x / s, y / s, (x + w) / s, (y + h) / s, float(score))
                 for (x, y, w, h), score in zip(np.asarray(rects).reshape(-1, 4), np.ravel(weights))
                 if score >= self.min_score]
        return non_max_suppression(boxes, self.overlap)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes.

    >>> iou((0, 0, 2, 2), (1, 0, 3, 2))
    0.3333333333333333
    """
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def non_max_suppression(boxes: list[Box], overlap: float = 0.4) -> list[Box]:
    """Keep the best-scoring box of each group overlapping by more than ``overlap`` (IoU, or one box
    mostly inside another: HOG finds a person at two scales as a box inside a box)."""
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: -b[4]):
        if all(iou(box, k) <= overlap and _inside(box, k) < 0.8 for k in kept):
            kept.append(box)
    return kept


def _inside(a: Box, b: Box) -> float:
    """The part of the smaller box's area that lies inside the other."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / small if small > 0 else 0.0


# -- choosing and keeping one person -----------------------------------------------------------------


class PersonTrack:
    """Which person is followed: chosen once from a set of boxes, then matched, never re-ranked.

    ``choose``: ``largest`` (tallest box) or ``central`` (nearest the frame's centre); ``person`` (0-based,
    counted from the left of the frame) overrides both.
    """

    def __init__(self, choose: str = "largest", person: int | None = None, max_shift: float = 0.6,
                 max_scale: float = 1.6):
        if choose not in CHOICES:
            raise VidsynthError(f"expected the person choice to be one of {', '.join(CHOICES)}, found {choose!r}")
        if person is not None and person < 0:
            raise VidsynthError(f"--person counts people from the left of the frame starting at 0; found {person}")
        self.rule, self.person = choose, person
        self.max_shift = max_shift    # largest move between matches, in the person's heights
        self.max_scale = max_scale    # largest change of height between matches (ratio)
        self.box: tuple[float, float, float, float] | None = None

    def reset(self) -> None:
        self.box = None

    def choose(self, boxes: list[Box], frame_wh: tuple[int, int]):
        """Pick the person to follow among ``boxes``; None (nobody chosen) when there is no one to pick."""
        if not boxes:
            return None
        if self.person is not None:
            by_column = sorted(boxes, key=lambda b: (b[0] + b[2]) / 2)
            if self.person >= len(by_column):
                return None
            pick = by_column[self.person]
        elif self.rule == "largest":
            pick = max(boxes, key=lambda b: b[3] - b[1])
        else:
            cx, cy = frame_wh[0] / 2, frame_wh[1] / 2
            pick = min(boxes, key=lambda b: np.hypot((b[0] + b[2]) / 2 - cx, (b[1] + b[3]) / 2 - cy))
        self.box = tuple(float(v) for v in pick[:4])
        return self.box

    def is_same(self, box: Box) -> bool:
        """Whether ``box`` can be the followed person (close enough, similar height)."""
        if self.box is None:
            return False
        h = self.box[3] - self.box[1]
        bh = box[3] - box[1]
        if h <= 0 or bh <= 0 or not (1 / self.max_scale <= bh / h <= self.max_scale):
            return False
        shift = np.hypot((box[0] + box[2] - self.box[0] - self.box[2]) / 2, (box[1] + box[3] - self.box[1] - self.box[3]) / 2)
        return shift <= self.max_shift * h

    def match(self, boxes: list[Box]):
        """The box among ``boxes`` that is the followed person (best overlap, then nearest), or None."""
        candidates = [b for b in boxes if self.is_same(b)]
        if not candidates:
            return None
        cx, cy = (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2
        best = max(candidates, key=lambda b: (iou(self.box, b), -np.hypot((b[0] + b[2]) / 2 - cx, (b[1] + b[3]) / 2 - cy)))
        self.box = tuple(float(v) for v in best[:4])
        return self.box

    def follow(self, box: Box) -> None:
        """Move the followed box to ``box`` (from the person's own keypoints)."""
        self.box = tuple(float(v) for v in box[:4])


def pose_box(pose: PoseKeypoints, min_confidence: float = 0.3):
    """The person's box from body keypoints: their extent, grown to take in the top of the head and the
    feet, which BODY_25 points stop short of; None with fewer than 4 confident points."""
    b = pose.body
    ok = b[:, 2] > min_confidence
    if ok.sum() < 4:
        return None
    xy = b[ok, :2]
    x0, y0 = xy.min(0)
    x1, y1 = xy.max(0)
    h = max(y1 - y0, 1.0)
    return (float(x0 - 0.15 * h), float(y0 - 0.12 * h), float(x1 + 0.15 * h), float(y1 + 0.05 * h))


def crop_box(box: Box, frame_wh: tuple[int, int], margin: float = 1.35, aspect: float = 0.75):
    """A crop around ``box`` (its height times ``margin``, width = height × ``aspect`` at least), in
    integer pixels; it may reach outside the frame (padded when cut)."""
    x0, y0, x1, y1 = box[:4]
    h = (y1 - y0) * margin
    w = max((x1 - x0) * margin, h * aspect)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (int(round(cx - w / 2)), int(round(cy - h / 2)), int(round(cx + w / 2)), int(round(cy + h / 2)))


def cut(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``image[y0:y1, x0:x1]``, padded with black where the box leaves the frame."""
    x0, y0, x1, y1 = box
    h, w = image.shape[:2]
    out = np.zeros((y1 - y0, x1 - x0, 3), image.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx0 < sx1 and sy0 < sy1:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


# -- the stage -----------------------------------------------------------------------------------------


@dataclass
class PersonPoseConfig:
    """Options of :class:`PersonPoseExtractor`."""

    choose: str = "largest"        # who is followed at the start: largest | central
    person: int | None = None      # or the N-th person from the left (0-based) in the first frame with people
    detect_every: int = 5          # run the people detector every N frames (and whenever the person is lost)
    upscale: float = 1.5           # detector upscale: finds people down to about 130/upscale px tall
    min_height: float = 40.0       # px: people shorter than this are too small to pose
    crop_height: int = 384         # px: the person's crop is scaled to this height for pose
    lost_after: int = 45           # frames without the chosen person before someone is chosen again
    warn_fraction: float = 0.05    # warn once the frames without a person pass this share
    pose: PoseExtractorConfig | None = None  # MediaPipe options (model_complexity, min_visibility, ...)
    key: str = "pose"

    def __post_init__(self):
        if self.choose not in CHOICES:
            raise VidsynthError(f"expected the person choice to be one of {', '.join(CHOICES)}, found {self.choose!r}")
        if self.detect_every < 1:
            raise VidsynthError(f"detect_every must be at least 1 frame, found {self.detect_every}")
        if self.person is not None and self.person < 0:
            raise VidsynthError(f"--person counts people from the left starting at 0; found {self.person}")


class PersonPoseExtractor(Stage):
    """Writes ``conditions['pose']`` (full-frame pixels) for one person followed over the stream, and
    ``conditions['person_box']`` (their box, or None).

    >>> stage = PersonPoseExtractor(PersonPoseConfig(choose="central"))  # doctest: +SKIP
    >>> frame = stage(frame); frame.conditions["person_box"]  # doctest: +SKIP
    """

    purpose = "pose extraction"

    def __init__(self, config: PersonPoseConfig | None = None, detector: PeopleDetector | None = None, **overrides):
        self.config = config or PersonPoseConfig(**overrides)
        self.pose_config = self.config.pose or PoseExtractorConfig()
        self.detector = detector or PeopleDetector(upscale=self.config.upscale)
        self.track = PersonTrack(self.config.choose, self.config.person)
        self._solution = None
        self._since_detect = 0
        self._lost = 0
        self._warned = False
        self.counters = {"frames": 0, "posed": 0, "no_person": 0, "too_small": 0, "rechosen": 0}

    def open(self) -> None:
        if self._solution is None:
            solutions = mediapipe_solutions(self.purpose)
            c = self.pose_config
            _check_pose_model_present(c.model_complexity)
            # static mode: the crop moves with the person, so MediaPipe's own frame-to-frame ROI would lag it
            self._solution = solutions.holistic.Holistic(
                static_image_mode=True, model_complexity=c.model_complexity,
                refine_face_landmarks=c.refine_face_landmarks,
                min_detection_confidence=c.min_detection_confidence)

    def close(self) -> None:
        if self._solution is not None:
            self._solution.close()
            self._solution = None

    def reset(self) -> None:
        self.track.reset()
        self._since_detect = 0
        self._lost = 0

    @property
    def missing_fraction(self) -> float:
        c = self.counters
        return (c["no_person"] + c["too_small"]) / max(c["frames"], 1)

    def pose_in(self, image: np.ndarray, box: Box) -> PoseKeypoints:
        """MediaPipe pose on a crop around ``box``, in full-frame pixels (empty when nobody is found)."""
        import cv2

        h, w = image.shape[:2]
        cb = crop_box(box, (w, h))
        crop = cut(image, cb)
        scale = self.config.crop_height / crop.shape[0]
        size = (max(1, round(crop.shape[1] * scale)), self.config.crop_height)
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
        result = self._solution.process(np.ascontiguousarray(crop))
        pose = pose_from_holistic(result, size[0], size[1], self.pose_config.min_visibility)
        if pose.is_empty:
            return pose
        return pose.transformed((1 / scale, 1 / scale), (-cb[0] * scale, -cb[1] * scale))

    def process(self, frame: Frame) -> Frame:
        if self._solution is None:
            self.open()
        image = rgb_image(frame, self.name)
        h, w = image.shape[:2]
        c = self.counters
        c["frames"] += 1
        pose, too_small = PoseKeypoints.empty(), False
        detections = None
        if self.track.box is None or self._lost or self._since_detect >= self.config.detect_every - 1:
            detections = self.detector.detect(image)
            self._since_detect = 0
        else:
            self._since_detect += 1
        if self.track.box is None and detections:
            tall = [d for d in detections if d[3] - d[1] >= self.config.min_height]
            too_small = not tall
            if self.track.choose(tall, (w, h)) is not None and c["posed"] + c["rechosen"] > 0:
                c["rechosen"] += 1
        elif detections:
            self.track.match(detections)
        if self.track.box is not None:
            box = self.track.box
            too_small = box[3] - box[1] < self.config.min_height
            if not too_small:
                pose = self.pose_in(image, box)
                found = pose_box(pose)
                if found is not None and self.track.is_same(found):
                    self.track.follow(found)
                else:  # nobody in the crop, or somebody else: never follow them
                    pose = PoseKeypoints.empty()
        if pose.is_empty:
            c["too_small" if too_small else "no_person"] += 1
            self._lost += 1
            if self._lost > self.config.lost_after:
                self.track.reset()
                self._lost = 0
        else:
            c["posed"] += 1
            self._lost = 0
        self._maybe_warn()
        frame.conditions[self.config.key] = pose
        frame.conditions["person_box"] = self.track.box if not pose.is_empty else None
        return frame

    def _maybe_warn(self) -> None:
        c = self.counters
        if self._warned or c["frames"] < 20 or self.missing_fraction <= self.config.warn_fraction:
            return
        self._warned = True
        log.warning("no person posed in %d of %d frames so far (%d nobody in view, %d too small); crop the input "
                    "closer to the person, pick another with --person N (0 = leftmost), or check the lighting",
                    c["no_person"] + c["too_small"], c["frames"], c["no_person"], c["too_small"])


def missing_person_note(counters: dict) -> str | None:
    """The closing line's part about frames without a person, or None when every frame had one.

    >>> missing_person_note({"frames": 200, "no_person": 10, "too_small": 2})
    'no person posed in 12 of 200 frames (6.0%: 10 nobody in view, 2 too small)'
    """
    missing = counters.get("no_person", 0) + counters.get("too_small", 0)
    if not missing:
        return None
    frames = max(counters.get("frames", 0), 1)
    return (f"no person posed in {missing} of {frames} frames ({100 * missing / frames:.1f}%: "
            f"{counters.get('no_person', 0)} nobody in view, {counters.get('too_small', 0)} too small)")
