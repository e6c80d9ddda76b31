#!/usr/bin/env python3
"""Measures ResNet-50's latency on a CUDA GPU per batch size and per layer, for the check of the
simulator's GPU tail-effect model (issue 14, env/gpu_waves.h) against a real GPU.

Runs where PyTorch with CUDA is installed (the GPU machine the `device` tool lends; CI never runs
it). torchvision's resnet50 (random weights: latency does not depend on them), FP32 inputs, NCHW,
cuDNN's default algorithm choice (cudnn.benchmark off) and TF32 setting, as the worker runs it
through libtorch. Writes one JSON file:

  device       name, multiprocessors, versions, TF32 settings
  batch        per batch size 1..B: median ms of an eager forward (launches included, what the
               worker sees) and of a CUDA-graph replay of it (GPU time alone: what the wave model
               predicts), each over --reps timed runs after warm-up
  layers       per named convolution and batch size: median microseconds of one launch, from a
               CUDA graph of --layer-reps launches (so launch overhead is not measured)
  kernels      per batch size in --kernel-batches: the CUDA kernels of one forward in launch order,
               with grid, block and duration from torch.profiler (the thread blocks a layer really
               launched, against the blocks the model's tiling predicts)

  python3 scripts/gpu_waves_measure.py --out FILE [--max-batch 128] [--reps 10]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import torch
import torchvision

LAYERS = [  # torchvision resnet50 module names: 3x3 convs at each stage, 1x1 at the last one
    "conv1", "layer1.0.conv2", "layer2.1.conv2", "layer3.1.conv2", "layer4.1.conv2",
    "layer4.1.conv3", "layer3.1.conv1",
]


def median_ms(fn, reps):
    times = []
    for _ in range(reps):
        e0 = torch.cuda.Event(enable_timing=True)
        e1 = torch.cuda.Event(enable_timing=True)
        e0.record()
        fn()
        e1.record()
        e1.synchronize()
        times.append(e0.elapsed_time(e1))
    return statistics.median(times)


def graph_of(fn, repeat=1):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(repeat):
            fn()
    return g


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--layer-reps", type=int, default=20)
    ap.add_argument("--kernel-batches", default="1,8,16,32,33,64,65,128")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_waves_measure.py: torch sees no CUDA device")
    t_start = time.time()
    dev = torch.device("cuda")
    p = torch.cuda.get_device_properties(0)
    out = {
        "device": {
            "name": p.name, "multiprocessors": p.multi_processor_count,
            "memory_gib": round(p.total_memory / 2**30, 1), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
        },
        "batch": [], "layers": {}, "kernels": {},
    }
    model = torchvision.models.resnet50(weights=None).eval().to(dev)
    modules = dict(model.named_modules())
    with torch.inference_mode():
        # Input of each named layer at batch 1 (its shape scales with the batch).
        shapes = {}
        hooks = [modules[n].register_forward_hook(
            lambda m, i, o, n=n: shapes.__setitem__(n, list(i[0].shape))) for n in LAYERS]
        model(torch.randn(1, 3, 224, 224, device=dev))
        for h in hooks:
            h.remove()
        for b in range(1, a.max_batch + 1):
            x = torch.randn(b, 3, 224, 224, device=dev)
            for _ in range(3):
                model(x)
            torch.cuda.synchronize()
            eager = median_ms(lambda: model(x), a.reps)
            g = graph_of(lambda: model(x))
            g.replay()
            graph = median_ms(g.replay, a.reps)
            del g
            out["batch"].append({"batch": b, "eager_ms": round(eager, 4), "graph_ms": round(graph, 4)})
            print(f"batch {b}: eager {eager:.3f} ms, graph {graph:.3f} ms", flush=True)
        for n in LAYERS:
            conv = modules[n]
            rows = []
            for b in range(1, a.max_batch + 1):
                x = torch.randn([b] + shapes[n][1:], device=dev)
                g = graph_of(lambda: conv(x), a.layer_reps)
                g.replay()
                ms = median_ms(g.replay, a.reps)
                del g
                rows.append({"batch": b, "us": round(1000 * ms / a.layer_reps, 3)})
            out["layers"][n] = {"input": shapes[n], "out_channels": conv.out_channels,
                                "kernel": list(conv.kernel_size), "stride": list(conv.stride),
                                "rows": rows}
            print(f"layer {n}: {rows[0]['us']} us at 1, {rows[-1]['us']} us at {a.max_batch}",
                  flush=True)
        for b in [int(s) for s in a.kernel_batches.split(",") if s]:
            x = torch.randn(b, 3, 224, 224, device=dev)
            for _ in range(3):
                model(x)
            torch.cuda.synchronize()
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                model(x)
                torch.cuda.synchronize()
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "trace.json")
                prof.export_chrome_trace(path)
                with open(path) as f:
                    trace = json.load(f)
            ks = [e for e in trace.get("traceEvents", []) if e.get("cat") == "kernel"]
            ks.sort(key=lambda e: e.get("ts", 0))
            out["kernels"][str(b)] = [{
                "name": e.get("name", "")[:160], "grid": e.get("args", {}).get("grid"),
                "block": e.get("args", {}).get("block"), "us": e.get("dur"),
                "blocks_per_sm": e.get("args", {}).get("blocks per SM"),
                "occupancy": e.get("args", {}).get("est. achieved occupancy %"),
            } for e in ks]
            print(f"kernels at batch {b}: {len(ks)}", flush=True)
    out["seconds"] = round(time.time() - t_start, 1)
    with open(a.out, "w") as f:
        json.dump(out, f)
    print(f"wrote {a.out} in {out['seconds']} s")


if __name__ == "__main__":
    main()
