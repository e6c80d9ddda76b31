#!/usr/bin/python3
"""Scripts torchvision classification networks to TorchScript for tests: NAME.pt, NAME.yaml
(input_shape, and where the weights come from) and, for checking any runtime against torch,
NAME.input.f32 / NAME.output.f32 (raw little-endian float32: one seeded input of batch 1 and
torch's output for it), and NAME.counts.json: torch's own figures for the network (convolution
and linear layer counts, parameters, and MACs counted with forward hooks as torchvision's
model cards count them: a convolution's output elements x kernel area x input channels /
groups, a linear layer's outputs x inputs). Weights are seeded (torch.manual_seed), not downloaded: nothing is
fetched; batch-norm statistics are re-estimated on seeded inputs so activations keep their scale. Needs Debian's python3-torchvision (run with /usr/bin/python3, whose modules it is).

A network whose files are already there, written by this same script (NAME.done newer than the
script), is kept: test binaries share one folder.

usage: torchvision_models.py OUTDIR [NAME ...]   (default: the eight networks of issue 11)"""
import json
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


def counts(model, x):
    """Torch's own figures: layer counts, parameters and MACs (forward hooks)."""
    c = {"conv_layers": 0, "fc_layers": 0, "recurrent_layers": 0, "macs": 0,
         "params": sum(p.numel() for p in model.parameters())}

    def conv_hook(m, inp, out):
        c["macs"] += out.numel() // out.shape[0] * m.kernel_size[0] * m.kernel_size[1] * \
            m.in_channels // m.groups

    def linear_hook(m, inp, out):
        c["macs"] += m.in_features * m.out_features

    hooks = []
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            c["conv_layers"] += 1
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, torch.nn.Linear):
            c["fc_layers"] += 1
            hooks.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, torch.nn.LSTM):
            c["recurrent_layers"] += m.num_layers
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return c


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) >= 2 else 2
    out = sys.argv[1]
    names = sys.argv[2:] or DEFAULT
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    for i, name in enumerate(names):
        done = os.path.join(out, name + ".done")
        if os.path.exists(done) and os.path.getmtime(done) >= os.path.getmtime(__file__):
            continue
        torch.manual_seed(1000 + sum(map(ord, name)))
        model = build(name)
        x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(7)) * 2 - 1
        with open(os.path.join(out, name + ".counts.json"), "w") as f:
            json.dump(counts(model, x), f)
        scripted = torch.jit.script(model)
        scripted.save(os.path.join(out, name + ".pt"))
        with open(os.path.join(out, name + ".yaml"), "w") as f:
            f.write("# torchvision %s %s, weights seeded with torch.manual_seed(%d) "
                    "(scripts/torchvision_models.py)\ninput_shape: [3, 224, 224]\n"
                    % (torchvision.__version__, name, 1000 + sum(map(ord, name))))
        with torch.no_grad():
            y = scripted(x)
        if isinstance(y, tuple):  # scripted GoogLeNet returns (logits, None, None)
            y = y[0]
        x.numpy().astype("<f4").tofile(os.path.join(out, name + ".input.f32"))
        y.numpy().astype("<f4").tofile(os.path.join(out, name + ".output.f32"))
        open(done, "w").close()
        print("%s: %d outputs" % (name, y.numel()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
