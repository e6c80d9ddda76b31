#!/usr/bin/python3
"""Scripts torchvision classification networks to TorchScript for tests: NAME.pt, NAME.yaml
(input_shape, and where the weights come from) and, for checking any runtime against torch,
NAME.input.f32 / NAME.output.f32 (raw little-endian float32: one seeded input of batch 1 and
torch's output for it). Weights are seeded (torch.manual_seed), not downloaded: nothing is
fetched; batch-norm statistics are re-estimated on seeded inputs so activations keep their scale. Needs Debian's python3-torchvision (run with /usr/bin/python3, whose modules it is).

usage: torchvision_models.py OUTDIR [NAME ...]   (default: the eight networks of issue 11)"""
import os
import sys

import torch
import torchvision

DEFAULT = ["mobilenet_v2", "resnet18", "resnet50", "squeezenet1_1", "googlenet", "vgg16",
           "mobilenet_v3_small", "shufflenet_v2_x1_0"]


def build(name):
    ctor = getattr(torchvision.models, name)
    kwargs = {"weights": None}
    if name == "googlenet":
        kwargs.update(aux_logits=False, init_weights=True)
    model = ctor(**kwargs)
    # Batch-norm statistics at initialisation (mean 0, variance 1) do not match the activations,
    # which then shrink or grow layer by layer (seeded mobilenet_v2 gave logits near 1e-9).
    # Re-estimate them on seeded inputs, as a trained network's would match its data.
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if bns:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        model.train()
        with torch.no_grad():
            for _ in range(3):
                model(torch.rand(8, 3, 224, 224) * 2 - 1)
    return model.eval()


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) >= 2 else 2
    out = sys.argv[1]
    names = sys.argv[2:] or DEFAULT
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    for i, name in enumerate(names):
        torch.manual_seed(1000 + i)
        model = build(name)
        scripted = torch.jit.script(model)
        scripted.save(os.path.join(out, name + ".pt"))
        with open(os.path.join(out, name + ".yaml"), "w") as f:
            f.write("# torchvision %s %s, weights seeded with torch.manual_seed(%d) "
                    "(scripts/torchvision_models.py)\ninput_shape: [3, 224, 224]\n"
                    % (torchvision.__version__, name, 1000 + i))
        x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(7)) * 2 - 1
        with torch.no_grad():
            y = scripted(x)
        if isinstance(y, tuple):  # scripted GoogLeNet returns (logits, None, None)
            y = y[0]
        x.numpy().astype("<f4").tofile(os.path.join(out, name + ".input.f32"))
        y.numpy().astype("<f4").tofile(os.path.join(out, name + ".output.f32"))
        print("%s: %d outputs" % (name, y.numel()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
