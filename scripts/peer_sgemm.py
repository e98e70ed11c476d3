#!/usr/bin/python3
"""Peer figures for bench/.../SgemmBenchmark: float32 out = x @ w.T at the same square sizes.

numpy (Debian's, on OpenBLAS) and PyTorch, on every core unless told otherwise. Each timing is the median
of --repeats runs after --warmup runs; GFLOP/s = 2*n^3 / seconds / 1e9.

    /usr/bin/python3 scripts/peer_sgemm.py [--sizes 1024 2048] [--threads N]

--threads sets OPENBLAS_NUM_THREADS (it must be set before numpy loads) and torch.set_num_threads.
"""
import argparse
import os
import statistics
import time


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=15)
    return p.parse_args()


def median_seconds(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    args = parse()
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}; numpy {np.__version__}, torch {torch.__version__}; "
          f"median of {args.repeats} after {args.warmup} warm-up", flush=True)
    rng = np.random.default_rng(42)
    for n in args.sizes:
        x = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        w = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        out = np.empty((n, n), dtype=np.float32)
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        tout = torch.empty(n, n)
        flops = 2.0 * n ** 3
        for name, fn in (("numpy x@w.T", lambda: np.matmul(x, w.T, out=out)),
                         ("torch x@w.T", lambda: torch.matmul(tx, tw.t(), out=tout))):
            s = median_seconds(fn, args.warmup, args.repeats)
            print(f"{name:14s} n={n:5d}  {s * 1e3:8.2f} ms  {flops / s / 1e9:7.1f} GFLOP/s")


if __name__ == "__main__":
    main()
