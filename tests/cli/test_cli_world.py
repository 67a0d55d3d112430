"""`vidsynth render` with a wc-vid2vid model, then `vidsynth world export`, through the command."""

import torch

from vidsynth.cli import main
from vidsynth.networks.model_file import save_model
from vidsynth.networks.wc_vid2vid import WCVid2VidConfig, WCVid2VidGenerator


def test_render_then_export_the_world(tmp_path, capsys):
    torch.manual_seed(0)
    save_model(WCVid2VidGenerator(WCVid2VidConfig.tiny(label_channels=35)), tmp_path / "wc.safetensors")
    out = tmp_path / "street.mp4"
    assert main(["render", "--model", str(tmp_path / "wc.safetensors"), "--input",
                 "synthetic:street?frames=3&width=64&height=32", "--output", str(out),
                 "--metrics", str(tmp_path / "m.json")]) == 0
    assert out.exists() and (tmp_path / "street.world.pt").exists()
    import json

    stages = json.loads((tmp_path / "m.json").read_text())["stages"]
    counters = stages["generate:wc_vid2vid"]["counters"]    # the stage's own counters reach --metrics
    assert counters["generated"] == 3 and 0 < counters["guidance_coverage"] <= 1
    assert main(["world", "export", "--run", str(out), str(tmp_path / "world.ply")]) == 0
    assert "points" in capsys.readouterr().err
    head = (tmp_path / "world.ply").read_bytes()[:200]
    assert head.startswith(b"ply") and b"red" in head
    assert main(["world", "export", "--run", str(tmp_path / "none.mp4"), str(tmp_path / "w.ply")]) == 2
