"""Parity of vidsynth's video generators with imaginaire's, frame by frame (a check, not a test).

Reads the folders written by the imaginaire reference harness (``shared/tools/imaginaire_ref``):
``<ref>/<case>/{io.pt, weights_G.pt, weights_G_ema.pt, schema.json}``. For each case it builds our
model from the same imaginaire YAML, converts the weights with :mod:`vidsynth.networks.imaginaire`
(the training weights with their spectral norms, and the EMA copy), runs OUR step loop over every
saved frame (feeding only the per-frame conditions; previous frames come from our own state) and
prints, per frame and per output, ``max|ours - ref| / max|ref|`` (target <= 1e-4).

    IMAGINAIRE_ROOT=/work/imaginaire python scripts/parity_video.py /work/ref \\
        --cases vid2vid_street,vid2vid_pose,fs_vid2vid_face,fs_vid2vid_pose,wc_vid2vid

Exit status 0 when every figure is within the tolerance, 1 otherwise. With ``--threads`` equal to
the thread count the harness ran with, the figures are exactly 0 (the computation is the same; only
the reduction order of multi-threaded convolutions differs otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

from vidsynth.networks.imaginaire import convert_state, load_converted_state, read_imaginaire_yaml
from vidsynth.networks.registry import model_class
from vidsynth.networks.imaginaire import imaginaire_model_name
from vidsynth.geometry.imaginaire_unprojection import UnprojectionGuidance

TOLERANCE = 1e-4
DEFAULT_CASES = "vid2vid_street,vid2vid_pose,fs_vid2vid_face,fs_vid2vid_pose,wc_vid2vid"

# imaginaire output name -> ours
OUTPUT_NAMES = {
    "fake_images": "image",
    "fake_flow_maps": "flow",
    "fake_occlusion_masks": "occlusion_mask",
    "warped_images": "warped_image",
    "guidance_images_and_masks": "guidance",
}


def relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    scale = float(ref.abs().max())
    return float((ours - ref).abs().max()) / (scale if scale > 0 else 1.0)


def training_checkpoint(case_dir: str) -> dict:
    """``net_G`` as imaginaire's trainer saves it (``module.module.*`` + ``module.averaged_model.*``),
    rebuilt from the harness's bare weight files, so the converter's real layout handling is exercised."""
    net_g = {"module.module." + k: v for k, v in
             torch.load(os.path.join(case_dir, "weights_G.pt"), weights_only=True, mmap=True).items()}
    ema_path = os.path.join(case_dir, "weights_G_ema.pt")
    if os.path.exists(ema_path):
        net_g.update({"module.averaged_model." + k: v for k, v in torch.load(ema_path, weights_only=True, mmap=True).items()})
        net_g["module.num_updates_tracked"] = torch.tensor(1)
    else:
        net_g = {"module." + k[len("module.module."):]: v for k, v in net_g.items()}
    return {"net_G": net_g}


def build_model(case_dir: str, imaginaire_root: str, ema: bool):
    schema = json.load(open(os.path.join(case_dir, "schema.json")))
    io = torch.load(os.path.join(case_dir, "io.pt"), weights_only=True)
    cfg = read_imaginaire_yaml(os.path.join(imaginaire_root, schema["config"]))
    h, w = io["meta"]["resolution_hw"]
    # The harness overrides the validation size (it fixes vid2vid's bottleneck); do the same.
    cfg["data"].setdefault("val", {}).setdefault("augmentations", {})
    aug = cfg["data"]["val"]["augmentations"]
    for key in ("center_crop_h_w", "resize_h_w"):
        aug.pop(key, None)
    aug["resize_h_w"] = f"{h}, {w}"
    cfg["_root"] = imaginaire_root  # wc-vid2vid's single-image model config is read from there
    name = imaginaire_model_name(cfg)
    cls = model_class(name)
    config = cls.config_cls.from_imaginaire(cfg)
    model = cls(config)
    state, layout = convert_state(model, training_checkpoint(case_dir), ema=ema)
    assert layout == ("ema" if ema else "training"), layout
    load_converted_state(model, state, source=f"{case_dir} ({'EMA' if ema else 'module'})")
    return model.eval(), io


def compare_outputs(ours: dict, ref: dict) -> dict[str, float]:
    """Per output name: relative error (lists such as fs-vid2vid's [ref, prev] are split)."""
    figures = {}
    for ref_name, our_name in OUTPUT_NAMES.items():
        if ref_name not in ref:
            continue
        r, o = ref[ref_name], ours.get(our_name)
        if isinstance(r, (list, tuple)):  # fs-vid2vid's [reference, previous] pairs: two named outputs of ours
            o = [ours.get(f"reference_{our_name}"), o]
            for tag, ri, oi in zip(("ref", "prev"), r, o if o is not None else [None] * len(r)):
                if ri is None and oi is None:
                    continue
                if ri is None or oi is None:
                    figures[f"{our_name}[{tag}]"] = float("inf")
                    continue
                figures[f"{our_name}[{tag}]"] = relative_error(oi, ri)
        elif r is None and o is None:
            continue
        elif r is None or o is None:
            figures[our_name] = float("inf")
        else:
            figures[our_name] = relative_error(o, r)
    return figures


def initial_state(model, inputs: dict, outputs: dict):
    """A fresh stream state; fs-vid2vid's carries the references, encoded once here."""
    if hasattr(model, "encode_references"):
        return model.initial_state(model.encode_references(inputs["ref_images"], inputs["ref_labels"]))
    if getattr(model, "single_image_model", None) is not None:
        # wc-vid2vid project configs: the single-image model's style code imaginaire drew for the stream
        return model.initial_state(single_image_z=outputs["single_image_model_z"])
    return model.initial_state()


def conditions_for(model, inputs: dict, guide) -> dict:
    """The per-frame conditions our step takes, from one harness call's inputs."""
    conditions = {"label": inputs["label"]}
    if guide is not None:
        conditions["guidance"] = guide.guidance(inputs["unprojection"], *inputs["label"].shape[2:])
    return conditions


def guidance_notes(ours: torch.Tensor, call: dict, guide_ref: UnprojectionGuidance) -> tuple[str, bool]:
    """wc-vid2vid guidance holds uint8 colours of earlier outputs, so a 1e-6 difference in an output
    can flip a colour by one uint8 step (2/255 in [-1, 1]). Report (a) the renderer fed with
    imaginaire's own outputs (must be exact: it checks the first-colour-sticks rendering itself) and
    (b) how many values of our free-running guidance differ, and by how many uint8 steps."""
    ref = call["outputs"]["guidance_images_and_masks"]
    unprojection = call["inputs"]["unprojection"]
    forced = guide_ref.guidance(unprojection, *ours.shape[2:])
    guide_ref.update(call["outputs"]["fake_images"], unprojection)
    forced_err = float((forced - ref).abs().max())
    steps = ((ours[:, :3] - ref[:, :3]).abs() * 255 / 2).round()
    differ = int((steps > 0).sum())
    mask_same = bool(torch.equal(ours[:, 3], ref[:, 3]))
    ok = forced_err == 0 and mask_same and float(steps.max()) <= 1
    return (f"  [guidance fed ref outputs: max diff {forced_err:.1e}; free-running: {differ} of {steps.numel()} "
            f"colour values differ by {int(steps.max())} uint8 step, mask {'identical' if mask_same else 'DIFFERS'}]"), ok


def run_case(case: str, ref_root: str, imaginaire_root: str, ema: bool) -> tuple[bool, list[str]]:
    case_dir = os.path.join(ref_root, case)
    if ema and not os.path.exists(os.path.join(case_dir, "weights_G_ema.pt")):
        return True, [f"{case} EMA: no EMA copy in this config"]
    t0 = time.time()
    model, io = build_model(case_dir, imaginaire_root, ema)
    calls = io["calls_ema" if ema else "calls"]
    lines, ok = [], True
    with torch.no_grad():
        state = initial_state(model, calls[0]["inputs"], calls[0]["outputs"])
        # wc-vid2vid: guidance from the unprojections with OUR point colours (the stage's job in vidsynth)
        guide = guide_ref = None
        if getattr(model, "model_name", "") == "wc_vid2vid":
            guide, guide_ref = UnprojectionGuidance(), UnprojectionGuidance()
        for t, call in enumerate(calls):
            conditions = conditions_for(model, call["inputs"], guide)
            out, state = model.step(conditions, state)
            notes = ""
            if guide is not None:
                out["guidance"] = conditions["guidance"]
                guide.update(out["image"], call["inputs"]["unprojection"])
                notes, guidance_ok = guidance_notes(conditions["guidance"], call, guide_ref)
            figures = compare_outputs(out, call["outputs"])
            worst = max(v for k, v in figures.items() if k != "guidance")
            ok &= worst <= TOLERANCE and (guide is None or guidance_ok)
            text = "  ".join(f"{k}={v:.1e}" for k, v in figures.items()) + notes
            lines.append(f"{case:<24} {'EMA' if ema else 'module':<6} frame {t}: {text}")
    lines.append(f"{case:<24} {'EMA' if ema else 'module':<6} {'OK' if ok else 'FAIL'} ({time.time() - t0:.1f} s)")
    return ok, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ref", help="folder written by imaginaire_ref.py")
    parser.add_argument("--cases", default=DEFAULT_CASES, help="comma-separated case names")
    parser.add_argument("--imaginaire-root", default=os.environ.get("IMAGINAIRE_ROOT"),
                        help="imaginaire checkout (for the YAML configs); default $IMAGINAIRE_ROOT")
    parser.add_argument("--only", choices=("module", "ema"), help="check only one weight copy")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.imaginaire_root:
        parser.error("give --imaginaire-root or set IMAGINAIRE_ROOT (the YAML configs are read from it)")
    torch.set_num_threads(args.threads)
    all_ok = True
    for case in [c for c in args.cases.split(",") if c]:
        if not os.path.isdir(os.path.join(args.ref, case)):
            print(f"{case}: no reference folder in {args.ref}; skipped")
            continue
        for ema in (False, True):
            if args.only and args.only != ("ema" if ema else "module"):
                continue
            ok, lines = run_case(case, args.ref, args.imaginaire_root, ema)
            all_ok &= ok
            print("\n".join(lines), flush=True)
    print("ALL OK" if all_ok else "SOME FIGURES ABOVE TOLERANCE")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
