"""Keypoint accuracy of the MediaPipe extractors against real annotations of real people.

Data: imaginaire's unit-test raw folder (not committed; pass its path), which holds
``vid2vid/pose/{images,poses-openpose}/<seq>/`` (OpenPose BODY_25 JSON of real frames) and
``fs_vid2vid/face/{images,landmarks-dlib68}/<seq>/`` (dlib-68 JSON of real frames).

- Body PCK@0.2: a keypoint is correct when within 0.2 × torso (annotated neck to mid-hip distance)
  of the annotation; over the BODY_25 points present in both (annotation confidence > 0.1, ours > 0).
- Face NME: mean point error / inter-ocular distance (outer eye corners 36 and 45), over 68 points.

Each is measured for tracking (video) mode and single-image mode, and for the face both with the
FaceExtractor (Face Mesh) and with the face part of the PoseExtractor (Holistic), so the numbers
come with a comparison in the same run.

    python benchmarks/keypoints.py /work/imaginaire/dataset/unit_test/raw [--json out.json]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from fractions import Fraction

import numpy as np


def load_rgb(path):
    import cv2

    im = cv2.imread(path, cv2.IMREAD_COLOR)
    if im is None:
        sys.exit(f"cannot read image {path}")
    return np.ascontiguousarray(im[:, :, ::-1])


def pairs(root, kind, ann_folder, ann_ext):
    base = os.path.join(root, *kind)
    out = []
    for seq in sorted(os.listdir(os.path.join(base, "images"))):
        for im in sorted(glob.glob(os.path.join(base, "images", seq, "*.jpg"))):
            stem = os.path.splitext(os.path.basename(im))[0]
            ann = os.path.join(base, ann_folder, seq, f"{stem}.{ann_ext}")
            if os.path.exists(ann):
                out.append((seq, im, ann))
    return out


def run(stage, items):
    from vidsynth.streams.frame import Frame

    results, times, last_seq = [], [], None
    for i, (seq, im, _) in enumerate(items):
        f = Frame(i, i, Fraction(1, 30), load_rgb(im), discontinuity=seq != last_seq)
        last_seq = seq
        t = time.perf_counter()
        stage(f)
        times.append(time.perf_counter() - t)
        results.append(f.conditions)
    return results, float(np.median(times))


def body_pck(preds, items, alpha=0.2):
    from vidsynth.engine.sidecars import read_openpose_json

    hits = total = 0
    per_frame = []
    for cond, (_, _, ann) in zip(preds, items):
        gt = read_openpose_json(ann).body
        ours = cond["pose"].body
        torso = np.linalg.norm(gt[1, :2] - gt[8, :2])
        both = (gt[:, 2] > 0.1) & (ours[:, 2] > 0)
        missed = (gt[:, 2] > 0.1) & ~(ours[:, 2] > 0)
        d = np.linalg.norm(ours[both, :2] - gt[both, :2], axis=1)
        hits += int((d <= alpha * torso).sum())
        total += int(both.sum())
        per_frame.append({"torso_px": float(torso), "compared": int(both.sum()), "not_found": int(missed.sum()),
                          "correct": int((d <= alpha * torso).sum())})
    return hits / max(total, 1), total, per_frame


def face_nme(points_list, items):
    from vidsynth.engine.sidecars import read_dlib68_json

    errs = []
    for pts, (_, _, ann) in zip(points_list, items):
        gt = read_dlib68_json(ann).xy
        if pts is None:
            errs.append(float("nan"))
            continue
        iod = np.linalg.norm(gt[36] - gt[45])
        errs.append(float(np.linalg.norm(pts - gt, axis=1).mean() / iod))
    return float(np.nanmean(errs)), errs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", help="imaginaire dataset/unit_test/raw folder")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from vidsynth.engine.extract import FaceExtractor, PoseExtractor

    body_items = pairs(args.data, ("vid2vid", "pose"), "poses-openpose", "json")
    face_items = pairs(args.data, ("fs_vid2vid", "face"), "landmarks-dlib68", "json")
    if not body_items or not face_items:
        sys.exit(f"no annotated frames found under {args.data} (expected vid2vid/pose and fs_vid2vid/face)")
    report = {"body_frames": len(body_items), "face_frames": len(face_items)}

    for static in (False, True):
        mode = "image" if static else "video"
        stage = PoseExtractor(static_image_mode=static)
        preds, t = run(stage, body_items)
        stage.close()
        pck, n, per_frame = body_pck(preds, body_items)
        report[f"body_pck@0.2_{mode}"] = pck
        report[f"body_pck@0.1_{mode}"] = body_pck(preds, body_items, 0.1)[0]
        report[f"body_pck@0.05_{mode}"] = body_pck(preds, body_items, 0.05)[0]
        report[f"body_points_compared_{mode}"] = n
        report[f"body_per_frame_{mode}"] = per_frame
        report[f"pose_ms_per_frame_{mode}"] = 1000 * t

        stage = FaceExtractor(static_image_mode=static)
        preds, t_face = run(stage, face_items)
        stage.close()
        nme, errs = face_nme([None if c["face"].is_empty else c["face"].xy for c in preds], face_items)
        report[f"face_nme_facemesh_{mode}"] = nme
        report[f"face_nme_per_frame_facemesh_{mode}"] = errs
        report[f"face_ms_per_frame_{mode}"] = 1000 * t_face

        stage = PoseExtractor(static_image_mode=static)
        preds, t_hol = run(stage, face_items)
        stage.close()
        nme_h, _ = face_nme([None if not (c["pose"].face[:, 2] > 0).any() else c["pose"].face[:68, :2]
                             for c in preds], face_items)
        report[f"face_nme_holistic_{mode}"] = nme_h
        report[f"face_time_ratio_facemesh_vs_holistic_{mode}"] = t_face / t_hol

    for k, v in report.items():
        if not isinstance(v, list):
            print(f"{k:45s} {v:.4f}" if isinstance(v, float) else f"{k:45s} {v}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
