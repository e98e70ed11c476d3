"""PyTorch eager peer of AttentionBenchmark: causal self-attention, forward and forward + backward.

The same formulation as attention() in torch_reference.py (Q·Kᵀ/√HS, causal mask, softmax, ·V), in float32,
with autograd for the backward. Run with Debian's /usr/bin/python3 (PyTorch 1.13 CPU):

    /usr/bin/python3 scripts/peer_attention.py [--threads N] [--shape BxTxCxNH]

Prints one line per shape and pass, in milliseconds per call (median of repeats), like JMH's avgt.
"""
import argparse
import math
import os
import time

import torch

SHAPES = [(16, 128, 256, 4), (1, 1024, 768, 12)]  # B, T, C, NH: the same as AttentionBenchmark


def attention(qkv, heads):
    b, t, c3 = qkv.shape
    c = c3 // 3
    hs = c // heads
    q, k, v = qkv.split(c, dim=2)
    q = q.view(b, t, heads, hs).transpose(1, 2)
    k = k.view(b, t, heads, hs).transpose(1, 2)
    v = v.view(b, t, heads, hs).transpose(1, 2)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
    mask = torch.ones(t, t, dtype=torch.bool).tril()
    scores = scores.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)
    att = torch.softmax(scores, dim=-1)
    out = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
    return out, lse


def time_ms(fn, seconds):
    """Median milliseconds per call over batches that each run for about 0.2 s, after a warm-up."""
    fn()
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < 0.2:
        fn()
        calls += 1
    per_batch = max(1, calls)
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 5:
        t0 = time.perf_counter()
        for _ in range(per_batch):
            fn()
        samples.append((time.perf_counter() - t0) * 1e3 / per_batch)
    samples.sort()
    return samples[len(samples) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="intra-op threads (default: every core, like the cpu backend)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per figure")
    parser.add_argument("--shape", help="only this BxTxCxNH (default: every shape of AttentionBenchmark)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32 eager")
    shapes = [tuple(int(d) for d in args.shape.split("x"))] if args.shape else SHAPES
    for b, t, c, heads in shapes:
        qkv = torch.randn(b, t, 3 * c).requires_grad_(True)
        dout = torch.randn(b, t, c)

        def forward():
            with torch.no_grad():
                attention(qkv, heads)

        def forward_backward():
            out, _ = attention(qkv, heads)
            out.backward(dout)  # adds into qkv.grad, as the Java backward adds into dqkv

        shape = f"{b}x{t}x{c}x{heads}"
        print(f"peer_attention forward          {shape:>14}  {time_ms(forward, args.seconds):9.3f} ms/op")
        print(f"peer_attention forwardBackward  {shape:>14}  {time_ms(forward_backward, args.seconds):9.3f} ms/op")


if __name__ == "__main__":
    main()
