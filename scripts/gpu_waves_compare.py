#!/usr/bin/env python3
"""Compares the simulator's GPU tail-effect model (env/gpu_waves.h, `autoscale waves`) with the
latencies scripts/gpu_waves_measure.py measured on a real GPU (issue 14).

  python3 scripts/gpu_waves_compare.py MEASURED.json [--autoscale build-sim/autoscale]
          [--device cloud_h200] [--calibrate-batch 32] [--step 0.08]

Prints, from the measurement and `autoscale waves resnet50 --device DEVICE`:
 1. ResNet-50 per batch size: the CUDA-graph time measured (GPU time, no launch overhead) beside
    the model's, with the model's convolution rate scaled so that the two agree at
    --calibrate-batch (one number fitted; the profile's rate is what this prints), and the
    error at every other size;
 2. per measured convolution (torchvision's names, matched to the zoo graph's convolutions in
    order): where the measured time steps (a rise of more than --step over the size before) and
    where the model's waves step, and how many of each the other holds.
Needs no GPU: run it where the programs are built, on the JSON the GPU machine wrote.
"""
import argparse
import json
import statistics
import subprocess
import sys


def waves(autoscale, device, args):
    cmd = [autoscale, "waves", "resnet50", "--device", device, "--json"] + args
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"gpu_waves_compare.py: {' '.join(cmd)} failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


def torchvision_convs():
    """torchvision resnet50's convolution names in module order (= the zoo graph's order)."""
    import torch
    import torchvision
    m = torchvision.models.resnet50()
    return [n for n, mod in m.named_modules() if isinstance(mod, torch.nn.Conv2d)]


def steps(values, rise):
    return [i + 2 for i in range(len(values) - 1) if values[i + 1] > values[i] * (1 + rise)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("measured")
    ap.add_argument("--autoscale", default="build-sim/autoscale")
    ap.add_argument("--device", default="cloud_h200")
    ap.add_argument("--calibrate-batch", type=int, default=32)
    ap.add_argument("--step", type=float, default=0.08)
    a = ap.parse_args()
    with open(a.measured) as f:
        m = json.load(f)
    dev = m["device"]
    print(f"measured: {dev['name']}, {dev['multiprocessors']} SMs, torch {dev['torch']}, "
          f"cuDNN {dev['cudnn']}, cudnn TF32 {dev['cudnn_allow_tf32']}")
    batches = [r["batch"] for r in m["batch"]]
    top = max(batches)

    # 1. The network by batch size.
    model = {r["batch"]: r["ms"] for r in waves(a.autoscale, a.device, ["--batches", f"1-{top}"])}
    meas = {r["batch"]: r["graph_ms"] for r in m["batch"]}
    eager = {r["batch"]: r["eager_ms"] for r in m["batch"]}
    scale = meas[a.calibrate_batch] / model[a.calibrate_batch]
    print(f"\n1. resnet50 per batch size on {a.device}: the model's times x{scale:.3f} "
          f"(fitted at batch {a.calibrate_batch})")
    print(f"{'batch':>5} {'eager ms':>9} {'graph ms':>9} {'model ms':>9} {'error':>7}")
    errors = []
    for b in batches:
        pred = model[b] * scale
        err = pred / meas[b] - 1
        errors.append(abs(err))
        if b <= 16 or b % 8 == 0 or b == top:
            print(f"{b:>5} {eager[b]:>9.3f} {meas[b]:>9.3f} {pred:>9.3f} {100 * err:>+6.1f}%")
    within = sum(e <= 0.10 for e in errors)
    print(f"|error|: median {100 * statistics.median(errors):.1f}%, max {100 * max(errors):.1f}%, "
          f"within 10% at {within} of {len(errors)} sizes")
    small = [e for b, e in zip(batches, errors) if b <= 8]
    print(f"  at batch 1-8: median {100 * statistics.median(small):.1f}%")

    # 2. Per layer: where the steps are.
    names = torchvision_convs()
    zoo = [r["layer"] for r in waves(a.autoscale, a.device, []) if r["op"] == "conv"]
    if len(names) != len(zoo):
        sys.exit(f"gpu_waves_compare.py: {len(names)} torchvision convolutions, {len(zoo)} in the "
                 "zoo graph: cannot match them")
    print(f"\n2. convolutions: steps measured (a rise over {100 * a.step:.0f}%) and modelled "
          "(one more wave)")
    total_meas = total_pred = hit_meas = hit_pred = 0
    for tv, L in m["layers"].items():
        z = zoo[names.index(tv)]
        rows = waves(a.autoscale, a.device, ["--batches", f"1-{len(L['rows'])}", "--layer", z])
        us = [r["us"] for r in L["rows"]]
        ms_steps = steps(us, a.step)
        pred_waves = [r["waves"] for r in rows]
        pred_steps = [i + 2 for i in range(len(pred_waves) - 1) if pred_waves[i + 1] > pred_waves[i]]
        # A measured step matches a modelled one at the same batch size.
        hm = sum(s in pred_steps for s in ms_steps)
        hp = sum(s in ms_steps for s in pred_steps)
        total_meas += len(ms_steps)
        total_pred += len(pred_steps)
        hit_meas += hm
        hit_pred += hp
        print(f"{tv:>15} ({z}, {L['input'][1]}->{L['out_channels']} {L['kernel'][0]}x"
              f"{L['kernel'][1]}/{L['stride'][0]} at {L['input'][2]}x{L['input'][3]}): "
              f"{us[0]:.0f}-{us[-1]:.0f} us")
        print(f"{'':>17}measured steps at {ms_steps}")
        print(f"{'':>17}modelled steps at {pred_steps}  ({hm} of {len(ms_steps)} measured "
              f"modelled, {hp} of {len(pred_steps)} modelled measured)")
    print(f"all: {hit_meas} of {total_meas} measured steps modelled at the same batch size, "
          f"{hit_pred} of {total_pred} modelled steps measured")


if __name__ == "__main__":
    main()
