"""The ``extract`` job: pose, face landmarks, person masks, optical flow or labels from any input.

Writes what it extracts as a video, a live preview, keypoint JSON sidecars or a training folder in
imaginaire's raw layout.

>>> from vidsynth.engine.jobs.extract import Options, build
>>> options = Options(input="dance.mp4", what="pose", output="pose.mp4")
>>> # build(options).run()
"""

from __future__ import annotations

from dataclasses import dataclass

from .options import RunOptions, option

COMMAND = {
    "name": "extract",
    "help": "extract pose, face landmarks, person masks, optical flow or labels from a video, camera or stream",
    "description": "Extract conditioning from a video file, a camera (camera:0) or a stream URL and write it as a "
    "video, a live preview, keypoint JSON sidecars or a training dataset.",
}

WHATS = ("pose", "face", "mask", "flow", "labels")


@dataclass(kw_only=True)
class Options(RunOptions):
    """What an extraction takes; the CLI's ``vidsynth extract`` options are these fields."""

    input: str = option(help="video file, image folder, camera:N, rtsp/http/udp URL or synthetic:NAME",
                        flags=("--input", "-i"))
    what: str | None = option(None, help="what to extract (default: pose; with --dataset-out alone, everything the "
                              "dataset needs)", choices=WHATS, flags=("--what", "-w"))
    output: str | None = option(None, help="output video file (.mp4 H.264; .mkv FFV1 lossless), image folder or "
                                "rtmp/udp URL", flags=("--output", "-o"))
    preview: str | None = option(None, help="show the result live: in a window (default) or a browser page served "
                                 "on 127.0.0.1", choices=("window", "http"), const="window")
    palette: str | None = option(None, help="label palette for --what labels: cityscapes, cocostuff or a JSON file",
                                 group="labels")
    label_mode: str = option("id", help="how the input codes labels: pixel values are ids (default) or palette "
                             "colours", choices=("id", "color"), group="labels")
    remap: str | None = option(None, help="label id remapping: FROM:TO pairs ('7:0,8:1') or a JSON file",
                               group="labels")
    sidecars: str | None = option(None, help="also write the keypoints of every frame as JSON (OpenPose / dlib-68)",
                                  metavar="DIR")
    dataset_out: str | None = option(None, help="write a training folder in imaginaire's raw layout", metavar="DIR")
    size: str | None = option(None, help="frame size (camera capture size; files are resized)", metavar="WxH")
    fps: float | None = option(None, help="capture frame rate of a camera")
    smooth: bool | None = option(None, help="smooth pose/face landmarks over time (One Euro filter); the default "
                                 "for live input (--no-smooth: never)")
    stop_event: object = option(None, help="a threading.Event that ends the run when set", cli=False)


def build(options: Options):
    """The extraction's Pipeline; every option is checked before MediaPipe loads."""
    from vidsynth.engine.presets import extract

    what = options.what
    if what is None and not options.dataset_out:
        what = "pose"
    fields = {k: getattr(options, k) for k in options.__dataclass_fields__ if k not in ("input", "what",
                                                                                          "input_timeout")}
    return extract(options.input, what=what, **fields)
