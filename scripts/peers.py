#!/usr/bin/python3
"""The peers of derf4j's benchmarks, measured the same way: PyTorch 1.13 eager and numpy (OpenBLAS), float32
on the CPU, every core unless told otherwise; or PyTorch on a CUDA GPU (device="cuda", what scripts/gpu-report
compares the device backends with), timed to the end of the GPU's work.

    /usr/bin/python3 scripts/peers.py sgemm|norms|attention|gelu|crossentropy|adamw|train [--threads N] [--data FILE]

Each peer times the same work as its JMH benchmark in bench/ (the docstrings say which) and returns
milliseconds per operation: the median of repeated measurements after warm-up runs. `scripts/bench-kernels`
imports this module and puts both sides of every ratio in one table.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time


def setup_threads(threads):
    """Must run before numpy is imported: OpenBLAS reads its thread count when it loads."""
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    import torch
    torch.set_num_threads(threads)  # Debian's build defaults to one intra-op thread


def blas_description():
    """The BLAS numpy runs, and which kernels (threadpoolctl): e.g. 'OpenBLAS 0.3.21, Haswell kernels, 2 threads'."""
    import numpy  # noqa: F401  (loads the BLAS that threadpoolctl inspects)
    try:
        import threadpoolctl
    except ImportError:
        return "unknown (no threadpoolctl: apt install python3-threadpoolctl)"
    blas = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(f"{i['internal_api']} {i.get('version', '?')}, {i.get('architecture', '?')} kernels, "
                     f"{i['num_threads']} threads" for i in blas) or "none found"


def torch_description():
    """PyTorch's version and the CPU capability its kernels dispatch to."""
    import torch
    capability = [line.split(":", 1)[1].strip() for line in torch.__config__.show().splitlines()
                  if "CPU capability usage" in line]
    return f"PyTorch {torch.__version__} ({capability[0] if capability else '?'}, {torch.get_num_threads()} threads)"


def median_ms(step, warmup=3, repeats=15, before=None, sync=None):
    """Median wall time of step() in milliseconds; before() runs untimed ahead of each call, and sync() (waiting for
    a GPU) inside the timed region after it."""
    times = []
    for i in range(warmup + repeats):
        if before:
            before()
        start = time.perf_counter()
        step()
        if sync:
            sync()
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def synchronizer(device):
    """What waits for the device's work: torch.cuda.synchronize on a GPU, nothing on the CPU."""
    import torch
    return torch.cuda.synchronize if device != "cpu" else None


def sgemm(sizes=(1024, 2048), device="cpu"):
    """SgemmBenchmark: out = x @ w.T, square n; numpy (OpenBLAS, on the CPU only) and torch. GFLOP/s = 2n^3 / time."""
    import numpy as np
    import torch
    rng = np.random.default_rng(42)
    out = {}
    for n in sizes:
        x = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        w = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        res = np.empty((n, n), dtype=np.float32)
        tx, tw = torch.from_numpy(x).to(device), torch.from_numpy(w).to(device)
        tres = torch.empty(n, n, device=device)
        if device == "cpu":
            out[f"numpy sgemm {n}"] = median_ms(lambda: np.matmul(x, w.T, out=res))
        out[f"torch sgemm {n}"] = median_ms(lambda: torch.matmul(tx, tw.t(), out=tres), sync=synchronizer(device))
    return out


def norms(rows=8192, channels=768, device="cpu"):
    """NormBenchmark: eager Derf as a user writes it, weight * erf(alpha * x + shift) + bias, with autograd
    (x and every parameter require grad; backward of a random dout); F.layer_norm likewise; x.clone() as the
    copy of the same bytes."""
    import torch
    import torch.nn.functional as F
    torch.manual_seed(42)
    x = torch.randn(rows, channels, device=device, requires_grad=True)
    dout = torch.randn(rows, channels, device=device)
    alpha = torch.tensor(0.5, device=device, requires_grad=True)
    shift = torch.tensor(0.1, device=device, requires_grad=True)
    weight = (1 + 0.1 * torch.randn(channels, device=device)).requires_grad_()
    bias = (0.1 * torch.randn(channels, device=device)).requires_grad_()
    params = (x, alpha, shift, weight, bias)
    sync = synchronizer(device)

    def clear():  # as optimizer.zero_grad(set_to_none=True), outside the timed region
        for p in params:
            p.grad = None

    def derf_forward():
        with torch.no_grad():
            weight * torch.erf(alpha * x + shift) + bias

    def copy():
        with torch.no_grad():
            x.clone()

    return {
        "torch derf forward": median_ms(derf_forward, 5, 30, sync=sync),
        "torch derf forward+backward": median_ms(
            lambda: (weight * torch.erf(alpha * x + shift) + bias).backward(dout), 5, 30, clear, sync),
        "torch layernorm forward+backward": median_ms(
            lambda: F.layer_norm(x, (channels,), weight, bias, 1e-5).backward(dout), 5, 30, clear, sync),
        "torch copy": median_ms(copy, 5, 30, sync=sync),
    }


def gelu(rows=2048, channels=3072, device="cpu"):
    """GeluBenchmark: GELU, tanh form, forward+backward with autograd (x requires grad; backward of a random dout)."""
    import torch
    import torch.nn.functional as F
    torch.manual_seed(42)
    x = torch.randn(rows, channels, device=device, requires_grad=True)
    dout = torch.randn(rows, channels, device=device)

    def clear():
        x.grad = None

    return {"torch gelu forward+backward": median_ms(
        lambda: F.gelu(x, approximate="tanh").backward(dout), 5, 30, clear, synchronizer(device))}


def cross_entropy(rows=256, vocab=50257, device="cpu"):
    """CrossEntropyBenchmark: the loss and its gradient, logits requiring grad as in training."""
    import torch
    import torch.nn.functional as F
    torch.manual_seed(42)
    logits = (3 * torch.randn(rows, vocab, device=device)).requires_grad_()
    targets = torch.randint(vocab, (rows,), device=device)

    def clear():
        logits.grad = None

    return {"torch cross-entropy loss+gradient": median_ms(
        lambda: F.cross_entropy(logits, targets).backward(), 5, 30, clear, synchronizer(device))}


def adamw(params=1 << 24, device="cpu"):
    """AdamWBenchmark: one torch.optim.AdamW step with weight decay on one parameter tensor whose gradient is set,
    with the same hyper-parameters, after 10 steps (the JMH benchmark's step count)."""
    import torch
    torch.manual_seed(42)
    param = (0.02 * torch.randn(params, device=device)).requires_grad_()
    param.grad = 1e-3 * torch.randn(params, device=device)
    optimizer = torch.optim.AdamW([param], lr=6e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    for _ in range(10):
        optimizer.step()
    return {"torch adamw step": median_ms(optimizer.step, 3, 15, sync=synchronizer(device))}


def causal_attention(qkv, heads):
    """The formulation of torch_reference.py's attention: Q·Kᵀ/√HS, causal mask, softmax, ·V."""
    import torch
    b, t, c3 = qkv.shape
    c = c3 // 3
    hs = c // heads
    q, k, v = (z.view(b, t, heads, hs).transpose(1, 2) for z in qkv.split(c, dim=2))
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
    scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool, device=qkv.device).tril().logical_not(), float("-inf"))
    return (scores.softmax(-1) @ v).transpose(1, 2).contiguous().view(b, t, c)


def attention(shapes=((16, 128, 256, 4), (1, 1024, 768, 12)), device="cpu"):
    """AttentionBenchmark: forward, and forward+backward with autograd, per B×T×C×NH."""
    import torch
    torch.manual_seed(42)
    out = {}
    for b, t, c, heads in shapes:
        qkv = torch.randn(b, t, 3 * c, device=device).requires_grad_(True)
        dout = torch.randn(b, t, c, device=device)
        sync = synchronizer(device)

        def forward():
            with torch.no_grad():
                causal_attention(qkv, heads)

        name = f"{b}x{t}x{c}x{heads}"
        out[f"torch attention forward {name}"] = median_ms(forward, 2, 10, sync=sync)
        out[f"torch attention forward+backward {name}"] = median_ms(
            lambda: causal_attention(qkv, heads).backward(dout), 2, 10, sync=sync)
    return out


def train(data, norm="derf", layers=4, heads=4, width=256, context=128, batch=16, steps=20, device="cpu"):
    """TrainStepBenchmark: one AdamW step of the same GPT (tied LM head, GELU-tanh MLP, Derf/DyT with the
    paper's embedding scale, LayerNorm or RMSNorm) on the same character data. Returns ms per step."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Pointwise(nn.Module):
        def __init__(self):
            super().__init__()
            self.alpha = nn.Parameter(torch.full((1,), 0.5))
            self.shift = nn.Parameter(torch.zeros(1))
            self.weight = nn.Parameter(torch.ones(width))
            self.bias = nn.Parameter(torch.zeros(width))

        def forward(self, x):
            if norm == "derf":
                return self.weight * torch.erf(self.alpha * x + self.shift) + self.bias
            return self.weight * torch.tanh(self.alpha * x) + self.bias

    class Rms(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(width))

        def forward(self, x):
            return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5) * self.weight

    def make_norm():
        return Pointwise() if norm in ("derf", "dyt") else nn.LayerNorm(width) if norm == "layernorm" else Rms()

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = make_norm(), make_norm()
            self.c_attn, self.attn_proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
            self.c_fc, self.mlp_proj = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

        def forward(self, x):
            x = x + self.attn_proj(causal_attention(self.c_attn(self.ln_1(x)), heads))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self, vocab):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, width), nn.Embedding(context, width)
            self.blocks = nn.ModuleList([Block() for _ in range(layers)])
            self.ln_f = make_norm()
            self.scale = nn.Parameter(torch.full((1,), math.sqrt(width))) if norm in ("derf", "dyt") else None

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
            if self.scale is not None:
                x = x * self.scale
            for blk in self.blocks:
                x = blk(x)
            logits = F.linear(self.ln_f(x), self.wte.weight)
            return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))

    torch.manual_seed(1337)
    text = open(data, encoding="utf-8").read()
    chars = sorted(set(text))
    index = {ch: i for i, ch in enumerate(chars)}
    tokens = torch.tensor([index[ch] for ch in text[: int(len(text) * 0.9)]], dtype=torch.long)
    model = GPT(len(chars)).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))

    def step():
        ix = torch.randint(len(tokens) - context - 1, (batch,))
        x = torch.stack([tokens[i:i + context] for i in ix])
        y = torch.stack([tokens[i + 1:i + context + 1] for i in ix]).to(device)
        x = x.to(device)
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return {f"torch train step {norm}": median_ms(step, 3, steps, sync=synchronizer(device))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", choices=["sgemm", "norms", "attention", "gelu", "crossentropy", "adamw", "train"])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--data", help="train: a UTF-8 text file")
    parser.add_argument("--norm", default="derf", help="train: derf, dyt, layernorm or rmsnorm")
    args = parser.parse_args()
    setup_threads(args.threads)
    if args.peer == "train":
        if not args.data:
            sys.exit("peers.py train needs --data FILE")
        result = train(args.data, args.norm)
    else:
        result = {"sgemm": sgemm, "norms": norms, "attention": attention, "gelu": gelu,
                  "crossentropy": cross_entropy, "adamw": adamw}[args.peer]()
    for name, ms in result.items():
        print(json.dumps({"peer": name, "ms": round(ms, 4), "threads": args.threads}))


if __name__ == "__main__":
    main()
