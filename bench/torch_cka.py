"""The CKA job as the widely used PyTorch tools run it, for `npm run bench -- --fullsize`.

torch_cka-style: forward hooks on the blocks of two torchvision models (ViT-B/16: the 12 encoder
layers; ResNet-50: the 16 bottlenecks, the same 12 x 16 sites as seelike's default CKA), each
batch's activations flattened, float32 Gram matrices, the minibatch-unbiased HSIC (Nguyen et
al. 2021, eq. 3) summed over batches, CKA = sum HSIC(K, L) / sqrt(sum HSIC(K, K) sum HSIC(L, L)).
float32 accumulation is what those tools do; a negative HSIC(K, K) sum gives NaN, which is
counted, not fixed.

Weights: the same random recipe as fixtures/models/make_fullsize.py (only speed matters here).
Images: the same uint8 .npy the seelike side reads, normalised with ImageNet's mean/std.

Run: /usr/bin/python3 bench/torch_cka.py IMAGES.npy BATCH [THREADS]
Prints one line of JSON: seconds (process start to result), nan cells, first-batch seconds, maxrss.
"""
import json
import os
import resource
import sys
import time

T0 = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "models"))
from make_models import calibrate_batchnorm_, randomise_  # noqa: E402


def hsic1(k, l):
    """Unbiased HSIC of two n x n Grams (diagonals zeroed), float32 like torch_cka."""
    n = k.shape[0]
    k = k.clone()
    l = l.clone()
    k.fill_diagonal_(0)
    l.fill_diagonal_(0)
    ones = torch.ones(n, 1, dtype=k.dtype)
    a = torch.trace(k @ l)
    b = (ones.t() @ k @ ones) * (ones.t() @ l @ ones) / ((n - 1) * (n - 2))
    c = (ones.t() @ k @ l @ ones) * 2 / (n - 2)
    return ((a + b - c) / (n * (n - 3))).item()


def main():
    images, batch = sys.argv[1], int(sys.argv[2])
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    vit = torchvision.models.vit_b_16(weights=None)
    randomise_(vit, seed=10)
    rn = torchvision.models.resnet50(weights=None)
    randomise_(rn, seed=20)
    calibrate_batchnorm_(rn, seed=21, image=224)
    vit.eval()
    rn.eval()
    feats = {"a": {}, "b": {}}

    def hook(side, name):
        def f(_module, _inputs, output):
            feats[side][name] = output.flatten(1)
        return f

    for i, layer in enumerate(vit.encoder.layers):
        layer.register_forward_hook(hook("a", f"blocks.{i}"))
    for s, stage in enumerate([rn.layer1, rn.layer2, rn.layer3, rn.layer4]):
        for u, unit in enumerate(stage):
            unit.register_forward_hook(hook("b", f"stages.{s}.units.{u}"))

    x_all = np.load(images, mmap_mode="r")
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    xy = xx = yy = None
    first = None
    t_pass = time.perf_counter()
    with torch.no_grad():
        for start in range(0, x_all.shape[0] - batch + 1, batch):
            x = torch.from_numpy(np.ascontiguousarray(x_all[start:start + batch])).permute(0, 3, 1, 2).float() / 255
            x = (x - mean) / std
            vit(x)
            rn(x)
            ka = [f @ f.t() for f in feats["a"].values()]
            kb = [f @ f.t() for f in feats["b"].values()]
            if xy is None:
                xy = np.zeros((len(ka), len(kb)), np.float32)
                xx = np.zeros(len(ka), np.float32)
                yy = np.zeros(len(kb), np.float32)
            for i, k in enumerate(ka):
                xx[i] += hsic1(k, k)
                for j, l in enumerate(kb):
                    xy[i, j] += hsic1(k, l)
            for j, l in enumerate(kb):
                yy[j] += hsic1(l, l)
            if first is None:
                first = time.perf_counter() - t_pass
    with np.errstate(invalid="ignore"):
        cka = xy / np.sqrt(np.outer(xx, yy))
    print(json.dumps({
        "seconds": time.perf_counter() - T0,
        "first": first,
        "cells": int(cka.size),
        "nan": int(np.isnan(cka).sum()),
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }))


if __name__ == "__main__":
    main()
