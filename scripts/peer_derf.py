#!/usr/bin/python3
"""PyTorch eager peer of bench/NormBenchmark: Derf and LayerNorm, forward+backward, float32 on the CPU.

Derf is written as a user would write it in eager PyTorch, y = weight * erf(alpha * x + shift) + bias, with
x, alpha, shift, weight and bias requiring grad, and y.backward(dout) for a random dout; LayerNorm is
F.layer_norm with the same weight and bias. Gradients are set to None before each step (outside the timed
region), as optimizer.zero_grad(set_to_none=True) does. PyTorch runs with its default thread count.

    /usr/bin/python3 scripts/peer_derf.py [--rows 8192] [--channels 768]

Prints the median and best time per step in microseconds, the unit of NormBenchmark's scores.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def timed(step, params, warmup, repeats):
    """Median and best wall time of step() in microseconds, grads cleared before each call."""
    times = []
    for i in range(warmup + repeats):
        for p in params:
            p.grad = None
        start = time.perf_counter()
        step()
        elapsed = time.perf_counter() - start
        if i >= warmup:
            times.append(elapsed * 1e6)
    return statistics.median(times), min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8192)
    parser.add_argument("--channels", type=int, default=768)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    torch.manual_seed(42)
    rows, c = args.rows, args.channels
    x = torch.randn(rows, c, requires_grad=True)
    dout = torch.randn(rows, c)
    alpha = torch.tensor(0.5, requires_grad=True)
    shift = torch.tensor(0.1, requires_grad=True)
    weight = (1 + 0.1 * torch.randn(c)).requires_grad_()
    bias = (0.1 * torch.randn(c)).requires_grad_()
    params = (x, alpha, shift, weight, bias)

    def derf_forward():
        with torch.no_grad():
            weight * torch.erf(alpha * x + shift) + bias

    def derf_forward_backward():
        (weight * torch.erf(alpha * x + shift) + bias).backward(dout)

    def layer_norm_forward_backward():
        F.layer_norm(x, (c,), weight, bias, 1e-5).backward(dout)

    def copy():
        with torch.no_grad():
            x.clone()

    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads (default), x[{rows}, {c}] float32")
    for name, step in (("derfForward", derf_forward), ("derfForwardBackward", derf_forward_backward),
                       ("layerNormForwardBackward", layer_norm_forward_backward), ("copy (x.clone())", copy)):
        median, best = timed(step, params, args.warmup, args.repeats)
        print(f"{name:26s} median {median:10.1f} us/op   best {best:10.1f} us/op")


if __name__ == "__main__":
    main()
