"""The talking head's figures: crop stability (jitter, zoom pumping, lag) and what a personal model learns.

``crop``: the face box's jitter on a talking clip, before (the landmark bounding box, and the generic
SubjectCrop the video stage used) and after (the stable face box of ``engine/extract/face_track.py``):
the std of the box centre and size after subtracting a smoothed trajectory (a quadratic fitted over
``2 * --half + 1`` frames), in pixels at a 256-px crop; and the lag on a deliberate head move (frames until the
crop has covered 90 % of a sudden sideways move of the head). Landmarks come from MediaPipe (the
detector's own noise) on ``synthetic:face`` talking and moving toward the camera, and on ``--clip``
(any video of a talking face; shots split at cuts).

``quality``: a personal model from the first 75 % of a clip (``vidsynth train --job talk``, at most
``--minutes``), driven by the held-out 25 % (``--retarget absolute``); face-crop PSNR/SSIM against the
real held-out frames next to two baselines from the same run: the mean training face, and the training
frame whose landmarks are nearest.

    python benchmarks/talk.py crop [--clip talk.mp4]
    python benchmarks/talk.py quality --clip talk.mp4 --minutes 20 --out /tmp/talk_bench
    python benchmarks/talk.py quality --synthetic --minutes 10 --out /tmp/talk_bench
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


# --- crop stability --------------------------------------------------------------------------------


def landmarks_of(source_spec: str, limit: int | None = None, mediapipe: bool = True):
    """(faces, fps, frames): per frame the (68, 3) landmarks (None: no face), from MediaPipe or, with
    ``mediapipe=False``, from what a synthetic source carries."""
    from vidsynth.engine.extract import FaceExtractor
    from vidsynth.streams import open_source

    src = open_source(source_spec)
    info = src.open()
    fps = float(info.rate) if info.rate else 25.0
    stage = FaceExtractor() if mediapipe else None
    if stage:
        stage.open()
    faces, hw = [], None
    try:
        for frame in src:
            hw = frame.image.shape[:2]
            if stage:
                face = stage(frame).conditions["face"]
                faces.append(None if face.is_empty else face.points.copy())
            else:
                faces.append(np.asarray(frame.conditions["face"], np.float32))
            if limit and len(faces) >= limit:
                break
    finally:
        if stage:
            stage.close()
        src.close()
    return faces, fps, hw


def crop_tracks(faces, fps: float, hw) -> dict[str, np.ndarray]:
    """Per method, (N, 3): the crop box's centre x, y and height in source pixels."""
    from vidsynth.engine.extract.face_track import StableFaceBox
    from vidsynth.engine.fitting import SubjectCrop, keypoint_bbox

    tracks = {"landmark box": [], "SubjectCrop (before)": [], "stable face box (after)": []}
    subject = SubjectCrop((256, 256), margin=1.4)
    stable = StableFaceBox()
    last = None
    for i, face in enumerate(faces):
        t = i / fps
        box = keypoint_bbox(face) if face is not None else None
        if box is not None:
            x0, y0, x1, y1 = box
            last = ((x0 + x1) / 2, (y0 + y1) / 2, max(y1 - y0, x1 - x0) * 1.4)
        tracks["landmark box"].append(last or (np.nan, np.nan, np.nan))
        p = subject.update(box, hw)
        tracks["SubjectCrop (before)"].append(_centre_size(p.box))
        p = stable.update(face, t, hw, (256, 256))
        tracks["stable face box (after)"].append(_centre_size(p.box))
    return {k: np.array(v, np.float64) for k, v in tracks.items()}


def _centre_size(box) -> tuple[float, float, float]:
    x0, y0, x1, y1 = box
    return (x0 + x1) / 2, (y0 + y1) / 2, float(y1 - y0)


def shots(faces, cut: float = 0.35) -> list[tuple[int, int]]:
    """Spans of frames with a face and no cut (a jump of the rigid centre by more than ``cut`` face
    heights, or a missing face)."""
    from vidsynth.engine.extract.face_track import rigid_frame

    spans, start, prev = [], None, None
    for i, face in enumerate(faces + [None]):
        rf = rigid_frame(face) if face is not None else None
        jump = rf is not None and prev is not None and np.linalg.norm(rf[0] - prev[0]) > cut * 4.5 * prev[1]
        if rf is None or jump:
            if start is not None and i - start >= 20:
                spans.append((start, i))
            start = i if rf is not None else None
        elif start is None:
            start = i
        prev = rf
    return spans


def local_fit(values: np.ndarray, half: int = 7) -> np.ndarray:
    """A Savitzky-Golay smoothing (a quadratic fitted over 2 * half + 1 frames), for the frames that have
    a full window; it follows a head's real motion but not frame-to-frame jitter."""
    k = np.arange(-half, half + 1, dtype=np.float64)
    vander = np.stack([np.ones_like(k), k, k * k], 1)
    weights = np.linalg.pinv(vander)[0]  # the fitted value at the window's centre
    return np.convolve(values, weights[::-1], "valid")


def jitter(track: np.ndarray, spans, half: int = 7, crop: int = 256) -> dict[str, float]:
    """Std of centre x, y and size around a smoothed trajectory (:func:`local_fit` over 2 * half + 1
    frames), in pixels of a ``crop``-px crop. Every shot is trimmed by 10 frames at each end (the
    trackers settle after a cut)."""
    devs = []
    for a, b in spans:
        a, b = a + 10, b - 10
        if b - a < 2 * half + 5:
            continue
        seg = track[a:b]
        smooth = np.stack([local_fit(seg[:, j], half) for j in range(3)], 1)
        inner = seg[half:len(seg) - half]
        devs.append((inner - smooth) * crop / inner[:, 2:3])
    d = np.concatenate(devs)
    return {"x": float(d[:, 0].std()), "y": float(d[:, 1].std()), "size": float(d[:, 2].std())}


def step_lag(fps: int = 25, step_at: int = 40, size: int = 256) -> dict[str, float]:
    """Frames from a sudden sideways head move until each crop has covered 90 % of it (exact landmarks
    of a still, talking ``synthetic:face``)."""
    from vidsynth.streams.synthetic.face import FaceConfig, FaceWorld

    world = FaceWorld(FaceConfig(width=size, height=size, motion=0.0, step_at=step_at, step=0.2, frames=80, fps=fps))
    faces = [world.frame(i)["face"] for i in range(80)]
    tracks = crop_tracks(faces, fps, (size, size))
    out = {}
    for name, tr in tracks.items():
        before, after = tr[step_at - 1, 0], tr[-1, 0]
        covered = (tr[step_at:, 0] - before) / (after - before)
        reached = np.nonzero(covered >= 0.9)[0]
        out[name] = float(reached[0]) if len(reached) else float("inf")
    return out


def crop_benchmark(clip: str | None, frames: int, half: int) -> dict:
    results = {"window_frames": 2 * half + 1, "clips": {}}
    specs = {"synthetic:face (talking, head moves, walks toward the camera; MediaPipe landmarks)":
             f"synthetic:face?frames={frames}&approach=0.3&identity=1&background=1"}
    if clip:
        specs[f"{clip} (MediaPipe landmarks)"] = clip
    for name, spec in specs.items():
        faces, fps, hw = landmarks_of(spec, limit=frames)
        spans = shots(faces)
        tracks = crop_tracks(faces, fps, hw)
        found = sum(f is not None for f in faces)
        results["clips"][name] = {
            "frames": len(faces), "faces_found": found, "shots": len(spans),
            "jitter_px_at_256": {k: jitter(tr, spans, half) for k, tr in tracks.items()}}
    results["lag_frames"] = step_lag()
    return results


def print_crop(results: dict) -> None:
    print(f"face-box jitter: std around a smoothed trajectory (a quadratic over {results['window_frames']} frames), "
          "px at a 256-px crop")
    for clip, r in results["clips"].items():
        print(f"\n{clip}: {r['frames']} frames, face found in {r['faces_found']}, {r['shots']} shot(s)")
        print(f"  {'method':28s} {'centre x':>9s} {'centre y':>9s} {'size':>9s}")
        for method, j in r["jitter_px_at_256"].items():
            print(f"  {method:28s} {j['x']:9.2f} {j['y']:9.2f} {j['size']:9.2f}")
    print("\nlag on a sudden sideways head move (frames to cover 90 % of it):")
    for method, lag in results["lag_frames"].items():
        print(f"  {method:28s} {lag:.0f}")


# --- quality: a personal model against two baselines --------------------------------------------------


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two H×W×3 uint8 images (Gaussian window, sigma 1.5, on each channel)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(a).permute(2, 0, 1)[None].double()
    y = torch.from_numpy(b).permute(2, 0, 1)[None].double()
    k = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-0.5 * (k / 1.5) ** 2)
    g = (g[:, None] * g[None, :]) / g.sum() ** 2
    w = g.expand(3, 1, 11, 11)

    def blur(t):
        return F.conv2d(t, w, groups=3)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return float(s.mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))


def _training_set(run_dir: str):
    """The crops (N, h, w, 3) and their landmarks (N, 68, 2) the job trained on."""
    import cv2

    images_dir = os.path.join(run_dir, "data", "images", "target")
    marks_dir = os.path.join(run_dir, "data", "landmarks-dlib68", "target")
    names = sorted(n[:-4] for n in os.listdir(images_dir) if n.endswith(".png"))
    crops = np.stack([cv2.cvtColor(cv2.imread(os.path.join(images_dir, n + ".png")), cv2.COLOR_BGR2RGB) for n in names])
    marks = np.stack([np.array(json.load(open(os.path.join(marks_dir, n + ".json"))), np.float64) for n in names])
    return crops, marks


def quality_benchmark(clip: str, out: str, minutes: float, size: int, fraction: float = 0.75) -> dict:
    """Train on the first ``fraction`` of ``clip``, drive with the rest (absolute), score face crops."""
    from fractions import Fraction

    from vidsynth.engine.extract.face_track import FaceCropConvention, FaceTracker
    from vidsynth.engine.extract.keypoints import FaceLandmarks
    from vidsynth.engine.tensors import image_to_tensor, tensor_to_image
    from vidsynth.engine.talking_head import TalkingHeadGenerator
    from vidsynth.networks.model_file import load_model, read_job
    from vidsynth.streams.frame import Frame
    from vidsynth.training.jobs import face_frames, train_job

    frames = list(face_frames(clip))  # (index, image, landmarks or None), the landmarks the job uses
    n_train = int(len(frames) * fraction)
    os.makedirs(out, exist_ok=True)
    model_path = os.path.join(out, "talk.safetensors")
    t0 = time.time()
    trained = train_job("talk", clip, model_path, minutes=minutes, size=size, max_frames=n_train,
                        run_dir=os.path.join(out, "talk.run"), resume=os.path.isdir(os.path.join(out, "talk.run", "train")))
    train_s = time.time() - t0
    job = read_job(model_path)
    model = load_model(model_path)
    crops, marks = _training_set(os.path.join(out, "talk.run"))
    mean_face = crops.astype(np.float64).mean(0).round().astype(np.uint8)
    flat_marks = marks.reshape(len(marks), -1)
    convention = FaceCropConvention.from_dict(job.info["crop"])
    hw = frames[0][1].shape[:2]
    tracker = FaceTracker((size, size), convention, min_face_fraction=0.0)
    generator = TalkingHeadGenerator(model, job.tensors["background"].numpy(), None, convention, "absolute")
    scores = {"model": [], "mean training face": [], "nearest-landmark training frame": []}
    fps = 25.0
    for index, image, points in frames[n_train:]:
        frame = Frame(index=index, pts=index, time_base=Fraction(1, int(fps)), image=image,
                      conditions={} if points is None else {"face": FaceLandmarks(points)})
        frame = generator(tracker(frame))
        if points is None:
            continue
        placement = frame.conditions["face_crop"]
        real = tensor_to_image(placement.crop(image_to_tensor(image), pad_value=-1.0))
        generated = tensor_to_image(frame.conditions["generated"])
        local = placement.points_to_model(points[:, :2].astype(np.float64)).reshape(-1)
        nearest = crops[int(np.argmin(((flat_marks - local) ** 2).sum(1)))]
        for name, picture in (("model", generated), ("mean training face", mean_face),
                              ("nearest-landmark training frame", nearest)):
            scores[name].append((psnr(picture, real), ssim(picture, real)))
    table = {name: {"psnr": float(np.mean([p for p, _ in v])), "ssim": float(np.mean([s for _, s in v]))}
             for name, v in scores.items()}
    return {"clip": clip, "frames": len(frames), "train_frames": n_train, "held_out_scored": len(scores["model"]),
            "size": size, "iterations": trained["iteration"], "train_minutes": train_s / 60, "scores": table,
            "frame_hw": list(hw)}


def print_quality(r: dict) -> None:
    print(f"{r['clip']}: trained on the first {r['train_frames']} of {r['frames']} frames "
          f"({r['iterations']} iterations, {r['train_minutes']:.1f} min with extraction), scored on "
          f"{r['held_out_scored']} held-out frames; face crops at {r['size']}x{r['size']}")
    print(f"  {'':34s} {'PSNR (dB)':>10s} {'SSIM':>7s}")
    for name, s in r["scores"].items():
        print(f"  {name:34s} {s['psnr']:10.2f} {s['ssim']:7.3f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    c = sub.add_parser("crop", help="crop jitter and lag")
    c.add_argument("--clip", default=None, help="a video of a talking face (any; MediaPipe finds the landmarks)")
    c.add_argument("--frames", type=int, default=250)
    c.add_argument("--half", type=int, default=7, help="the smoothed trajectory: a quadratic over 2 * half + 1 frames")
    c.add_argument("--json", default=None)
    q = sub.add_parser("quality", help="train on 75 % of a clip, score face crops on the rest")
    q.add_argument("--clip", default=None, help="a video of one person talking (any)")
    q.add_argument("--synthetic", action="store_true", help="use synthetic:face as the clip (a stand-in)")
    q.add_argument("--minutes", type=float, default=20.0)
    q.add_argument("--size", type=int, default=128)
    q.add_argument("--out", required=True, help="work folder (the model, its run folder)")
    q.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.what == "quality":
        clip = args.clip or ("synthetic:face?frames=600&width=256&height=256&identity=5&background=3&seed=11"
                             if args.synthetic else None)
        if clip is None:
            ap.error("quality needs --clip or --synthetic")
        results = quality_benchmark(clip, args.out, args.minutes, args.size)
        print_quality(results)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    if args.what == "crop":
        t0 = time.time()
        results = crop_benchmark(args.clip, args.frames, args.half)
        print_crop(results)
        print(f"\n({time.time() - t0:.0f} s)")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
