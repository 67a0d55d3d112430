"""``vidsynth demo`` writes a playable video: input | pose map | optical flow, side by side."""

import numpy as np

from vidsynth.cli import main
from vidsynth.streams.video_file import VideoFileSource


def test_demo_writes_a_playable_side_by_side_video(tmp_path, capfd):
    out = tmp_path / "demo.mp4"
    assert main(["demo", "--output", str(out), "--frames", "8", "--size", "128", "--no-progress", "--only", "extract"]) == 0
    assert "wrote" in capfd.readouterr().err
    source = VideoFileSource(out)
    info = source.open()
    frames = list(source)
    assert (info.width, info.height) == (3 * 128, 128) and len(frames) == 8
    last = frames[-1].image.astype(np.int32)
    photo, pose, flow = last[:, :128], last[:, 128:256], last[:, 256:]
    assert photo.std() > 20  # the photograph
    assert (pose.max(axis=2) > 60).mean() > 0.005  # a skeleton was found and drawn on black
    assert (pose.max(axis=2) < 30).mean() > 0.8
    assert flow.std() > 1  # the camera moves, so the flow is not uniform


def test_synthesis_demos_use_the_shipped_models(tmp_path):
    """`vidsynth demo` renders the street and the dancing puppet with the models vidsynth ships."""
    import av

    out = tmp_path / "demo.mp4"
    for name in ("street", "dance"):
        assert main(["demo", "--output", str(out), "--frames", "4", "--no-progress", "--only", name]) == 0
        with av.open(str(tmp_path / f"demo_{name}.mp4")) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert len(frames) == 4 and frames[0].shape[1] == 3 * frames[0].shape[0]
