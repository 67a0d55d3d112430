"""Training folders made from the synthetic worlds, in imaginaire's raw layout (no download needed).

``write_street_dataset`` renders sequences of the street world: ``images/``, ``seg_maps/`` (Cityscapes
ids), ``flow/`` (exact backward flow + validity, (H, W, 3) .npy) and, for wc-vid2vid, ``unprojections/``.
``write_puppet_dataset`` renders the puppet: ``images/`` and ``poses-openpose/`` (OpenPose JSON). Both
read back with the training datasets, so the built-in demo models and the benchmarks train on real,
learnable data.

Used like this (not run as a doctest: it needs files, a browser or minutes of work)::

    write_street_dataset("data/street", starts=[0, 100, 200], frames=12, size=64)

From the shell::

    python -m vidsynth.training.synthetic_data street data/street --sequences 10 --frames 8 --size 64
    python -m vidsynth.training.synthetic_data puppet data/puppet --sequences 8 --frames 16 --size 64
"""

from __future__ import annotations

import json
import os

import numpy as np


def _write_png(path: str, array: np.ndarray) -> None:
    import cv2

    os.makedirs(os.path.dirname(path), exist_ok=True)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(path, array):
        from vidsynth.errors import VidsynthError

        raise VidsynthError(f"could not write {path}; check the folder is writable")


def write_street_dataset(out: str, starts: list[float], frames: int, size: int = 64, seed: int = 0,
                         path: str = "loop", speed: float = 0.5, unprojections: bool = False,
                         voxel_size: float | None = None, cities: int = 1) -> str:
    """One sequence per start position (metres along the camera path), ``frames`` frames each, in each of
    ``cities`` cities (seeds ``seed``, ``seed + 1``, ...; the same kinds of streets, other layouts and
    colours). Sequences are numbered city by city: ``seq000`` ... in the first.

    ``unprojections``: also write wc-vid2vid's ``unprojections/`` (imaginaire's per-frame pixel → 3D point
    id files), with the world cut into ``voxel_size`` cubes, one point per cube and sequence. The default,
    6.4 m / ``size`` (0.05 m at 128 pixels, the engine's world voxel), is a pixel's footprint 3 m away:
    along 12 frames about a quarter of the pixels see a point an earlier frame saw (imaginaire's
    Cityscapes files cover 27 to 33 %), and the real frames' colours at those points differ from the
    first sighting's by 0.9 levels of 255 on average (25.6 m / size: 64 % and 4.4 levels)."""
    from vidsynth.streams.synthetic.street import StreetConfig, StreetWorld

    voxel_size = voxel_size or 6.4 / size

    places = [(city, start) for city in range(seed, seed + cities) for start in starts]
    for k, (city, start) in enumerate(places):
        world = StreetWorld(StreetConfig(width=size, height=size, path=path, seed=city, start=float(start),
                                         frames=frames, speed=speed))
        seq = f"seq{k:03d}"
        previous = None
        point_ids: dict = {}
        for i in range(frames):
            f = world.frame(i, previous)
            previous = f
            name = f"{i:06d}"
            _write_png(os.path.join(out, "images", seq, name + ".png"), f["image"])
            _write_png(os.path.join(out, "seg_maps", seq, name + ".png"), f["labels"])
            flow = np.concatenate([f["flow"], f["flow_valid"][..., None].astype(np.float32)], axis=2)
            os.makedirs(os.path.join(out, "flow", seq), exist_ok=True)
            np.save(os.path.join(out, "flow", seq, name + ".npy"), flow.astype(np.float32))
            if unprojections:
                _write_unprojection(os.path.join(out, "unprojections", seq, name + ".pkl"), f, voxel_size, point_ids)
    return out


def _write_unprojection(path: str, frame: dict, voxel_size: float, point_ids: dict) -> None:
    """imaginaire's unprojection file of one frame: {'w<W>xh<H>': [row, column, point id, ...]} for every
    surface pixel (not the sky); ``point_ids`` maps voxels to ids across the frames of a sequence."""
    import pickle

    rows, cols = np.nonzero(~frame["sky"])
    voxels = np.floor(frame["points"][rows, cols] / voxel_size).astype(np.int64)
    ids = np.array([point_ids.setdefault(tuple(v), len(point_ids)) for v in voxels.tolist()], np.int64)
    H, W = frame["sky"].shape
    flat = np.stack([rows, cols, ids], axis=1).reshape(-1).tolist()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump({f"w{W}xh{H}": flat}, fh)


def openpose_json(keypoints: dict[str, np.ndarray]) -> dict:
    """An OpenPose JSON record of one person from {'body', 'hand_left', 'hand_right', 'face'} arrays."""
    def flat(a):
        return [round(float(v), 3) for v in np.asarray(a, np.float32).reshape(-1)]

    return {"version": 1.3, "people": [{
        "person_id": [-1],
        "pose_keypoints_2d": flat(keypoints["body"]),
        "face_keypoints_2d": flat(keypoints["face"]),
        "hand_left_keypoints_2d": flat(keypoints["hand_left"]),
        "hand_right_keypoints_2d": flat(keypoints["hand_right"]),
    }]}


def write_puppet_dataset(out: str, sequences: int, frames: int, size: int = 64, seed: int = 0, **options) -> str:
    """``sequences`` dances of the puppet (seeds ``seed``, ``seed + 1``, ...), ``frames`` frames each."""
    from vidsynth.streams.synthetic.puppet import PuppetConfig, PuppetWorld

    for k in range(sequences):
        world = PuppetWorld(PuppetConfig(width=size, height=size, seed=seed + k, frames=frames, **options))
        seq = f"seq{k:03d}"
        for i in range(frames):
            f = world.frame(i)
            name = f"{i:06d}"
            _write_png(os.path.join(out, "images", seq, name + ".png"), f["image"])
            p = os.path.join(out, "poses-openpose", seq, name + ".json")
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as fh:
                json.dump(openpose_json(f["pose"]), fh)
    return out


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="write a training folder from a synthetic world")
    ap.add_argument("world", choices=["street", "puppet"])
    ap.add_argument("out")
    ap.add_argument("--sequences", type=int, default=10)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cities", type=int, default=1, help="street: the sequences in each of this many cities "
                                                          "(seeds --seed, --seed + 1, ...)")
    ap.add_argument("--spacing", type=float, default=16.0, help="street: metres between sequence starts")
    ap.add_argument("--unprojections", action="store_true",
                    help="street: also write unprojections/ (wc-vid2vid's pixel → 3D point files)")
    ap.add_argument("--background-seed", type=int, default=None, help="puppet: one backdrop for every dance")
    args = ap.parse_args(argv)
    if args.world == "street":
        write_street_dataset(args.out, [k * args.spacing for k in range(args.sequences)], args.frames, args.size,
                             seed=args.seed, unprojections=args.unprojections, cities=args.cities)
    else:
        write_puppet_dataset(args.out, args.sequences, args.frames, args.size, seed=args.seed,
                             background_seed=args.background_seed)
    count = args.sequences * (args.cities if args.world == "street" else 1)
    print(f"wrote {count} {args.world} sequences of {args.frames} frames to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
