"""Parity of vidsynth's six image generators with imaginaire's, on the reference harness's outputs.

The harness (shared/tools/imaginaire_ref/imaginaire_ref.py) ran imaginaire's own generators and saved,
per case, ``schema.json``, ``weights_G.pt`` (the bare generator, spectral norms as weight_orig/u/v),
``weights_G_ema.pt`` (the EMA copy, when enabled) and ``io.pt`` (inputs and outputs of each call).
For every case this script

1. reads the case's imaginaire YAML into our config (``config_from_imaginaire``);
2. rebuilds imaginaire checkpoint layouts from the saved weights and ``schema.json``'s
   ``checkpoint_net_G`` key list (``module.`` or ``module.module.`` training weights, and
   ``module.averaged_model.`` EMA weights) and converts each with ``convert_state``;
3. feeds the saved inputs and prints max|ours - ref| / max|ref| for every output.

Usage:
    IMAGINAIRE_ROOT=/work/imaginaire python scripts/parity_image.py /work/ref [--cases spade,unit@project]

It is a check, not a test: tests never need imaginaire. Exit status 1 if any figure exceeds --tol.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vidsynth.networks.imaginaire import config_from_imaginaire, convert_state, load_converted_state  # noqa: E402
from vidsynth.networks.registry import model_class  # noqa: E402

IMAGE_CASES = ("pix2pixHD", "spade", "unit", "munit", "funit", "coco_funit")


def run_pix2pixhd(model, inputs):
    return {"fake_images": model(inputs["label"])}


def run_spade(model, inputs, outputs):
    mu, logvar = model.encode_style(inputs["images"])
    return {"fake_images": model(inputs["label"], outputs["z_used"]), "mu": mu, "logvar": logvar,
            "z_used": outputs["z_used"]}


def run_unit(model, inputs):
    return model.training_outputs(inputs["images_a"], inputs["images_b"])


def run_munit(model, inputs, outputs):
    return model.training_outputs(inputs["images_a"], inputs["images_b"],
                                  style_a_rand=outputs["style_a_rand"], style_b_rand=outputs["style_b_rand"])


def run_funit(model, inputs):
    return model.training_outputs(inputs["images_content"], inputs["images_style"])


def run_case_outputs(name, model, inputs, outputs):
    if name == "pix2pixhd":
        return run_pix2pixhd(model, inputs)
    if name == "spade":
        return run_spade(model, inputs, outputs)
    if name == "unit":
        return run_unit(model, inputs)
    if name == "munit":
        return run_munit(model, inputs, outputs)
    if name in ("funit", "coco_funit"):
        return run_funit(model, inputs)
    raise ValueError(name)


def checkpoint_layouts(case_dir: str, schema: dict) -> dict[str, dict]:
    """imaginaire ``net_G`` dicts rebuilt from the saved weights, by layout name."""
    weights = torch.load(os.path.join(case_dir, "weights_G.pt"), map_location="cpu", weights_only=True)
    ema_path = os.path.join(case_dir, "weights_G_ema.pt")
    ema = torch.load(ema_path, map_location="cpu", weights_only=True) if os.path.isfile(ema_path) else None
    net_g = {}
    for key, _shape, _dtype in schema["checkpoint_net_G"]:
        if key.startswith("module.averaged_model."):
            net_g[key] = ema[key[len("module.averaged_model."):]]
        elif key.startswith("module.module."):
            net_g[key] = weights[key[len("module.module."):]]
        elif key == "module.num_updates_tracked":
            net_g[key] = torch.tensor(1)
        else:
            net_g[key] = weights[key[len("module."):]]
    layouts = {"training": {"net_G": net_g}}
    if ema is not None:
        layouts["ema"] = {"net_G": net_g}
    return layouts


def rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    ours, ref = ours.double(), ref.double()
    if ours.shape != ref.shape:
        return float("inf")
    scale = ref.abs().max().item()
    return (ours - ref).abs().max().item() / (scale if scale > 0 else 1.0)


def check_case(ref_root: str, case: str, imaginaire_root: str, tol: float) -> list[dict]:
    case_dir = os.path.join(ref_root, case)
    schema = json.load(open(os.path.join(case_dir, "schema.json")))
    io = torch.load(os.path.join(case_dir, "io.pt"), map_location="cpu", weights_only=True)
    name, config = config_from_imaginaire(os.path.join(imaginaire_root, schema["config"]))
    rows = []
    for layout, ckpt in checkpoint_layouts(case_dir, schema).items():
        model = model_class(name)(config)
        state, used = convert_state(model, ckpt, ema=(layout == "ema"))
        load_converted_state(model, state, source=f"{case} ({layout})")
        model.eval()
        calls = io["calls_ema"] if layout == "ema" else io["calls"]
        worst = {}
        t0 = time.perf_counter()
        with torch.inference_mode():
            for call in calls:
                ours = run_case_outputs(name, model, call["inputs"], call["outputs"])
                for key, ref in call["outputs"].items():
                    if not isinstance(ref, torch.Tensor):
                        continue
                    err = rel_err(ours[key], ref) if key in ours else float("nan")
                    worst[key] = max(worst.get(key, 0.0), err)
        for key, err in worst.items():
            rows.append(dict(case=case, layout=f"{layout}({used})", output=key, rel_err=err, ok=err <= tol))
        print(f"{case:20s} {layout:8s} {len(calls)} call(s) {time.perf_counter() - t0:6.2f}s  " +
              "  ".join(f"{k}={v:.2e}" for k, v in worst.items()), flush=True)
        del model, state, ckpt
        gc.collect()
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ref", help="the harness output folder (one sub-folder per case)")
    parser.add_argument("--cases", default="", help="comma list (default: every image case present)")
    parser.add_argument("--imaginaire-root", default=os.environ.get("IMAGINAIRE_ROOT", ""),
                        help="imaginaire checkout, for the YAML configs (default: $IMAGINAIRE_ROOT)")
    parser.add_argument("--tol", type=float, default=1e-4, help="max allowed max|ours-ref|/max|ref|")
    parser.add_argument("--json", default="", help="also write the figures here")
    args = parser.parse_args(argv)
    if not args.imaginaire_root:
        parser.error("give --imaginaire-root or set IMAGINAIRE_ROOT (the YAML configs are read from it)")
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    if args.cases:
        cases = args.cases.split(",")
    else:
        cases = [c for c in sorted(os.listdir(args.ref)) if c.split("@")[0] in IMAGE_CASES
                 and os.path.isfile(os.path.join(args.ref, c, "io.pt"))]
    rows = []
    for case in cases:
        rows += check_case(args.ref, case, args.imaginaire_root, args.tol)
    bad = [r for r in rows if not r["ok"]]
    print(f"\n{len(rows)} outputs checked, {len(bad)} above tol {args.tol:g}")
    for r in bad:
        print(f"  FAIL {r['case']} {r['layout']} {r['output']}: {r['rel_err']:.3e}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
