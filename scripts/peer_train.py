#!/usr/bin/python3
"""PyTorch 1.13 eager peer of `./derf train` on text: the same GPT (nanoGPT-style, tied LM head, GELU-tanh
MLP, Derf/DyT/LayerNorm/RMSNorm with the Derf paper's embedding scale), the same AdamW and clipping, on
the same character-level data. Prints training throughput in tokens/s as one JSON line.

Run with Debian's python3 (it has python3-torch):  /usr/bin/python3 scripts/peer_train.py --data FILE
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class PointwiseNorm(nn.Module):
    def __init__(self, c, kind, alpha):
        super().__init__()
        self.kind = kind
        self.alpha = nn.Parameter(torch.full((1,), alpha))
        self.shift = nn.Parameter(torch.zeros(1)) if kind == "derf" else None
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        if self.kind == "derf":
            return self.weight * torch.erf(self.alpha * x + self.shift) + self.bias
        return self.weight * torch.tanh(self.alpha * x) + self.bias


class RMSNorm(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))

    def forward(self, x):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5) * self.weight


def make_norm(kind, c, alpha):
    if kind in ("derf", "dyt"):
        return PointwiseNorm(c, kind, alpha)
    return nn.LayerNorm(c) if kind == "layernorm" else RMSNorm(c)


class Block(nn.Module):
    def __init__(self, c, heads, kind, alpha):
        super().__init__()
        self.heads = heads
        self.ln_1 = make_norm(kind, c, alpha)
        self.c_attn = nn.Linear(c, 3 * c)
        self.attn_proj = nn.Linear(c, c)
        self.ln_2 = make_norm(kind, c, alpha)
        self.c_fc = nn.Linear(c, 4 * c)
        self.mlp_proj = nn.Linear(4 * c, c)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // self.heads)
        att = att.masked_fill(torch.ones(t, t, dtype=torch.bool).tril().logical_not(), float("-inf"))
        y = (att.softmax(-1) @ v).transpose(1, 2).contiguous().view(b, t, c)
        x = x + self.attn_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab, context, layers, heads, c, kind, alpha):
        super().__init__()
        self.kind = kind
        self.wte = nn.Embedding(vocab, c)
        self.wpe = nn.Embedding(context, c)
        self.blocks = nn.ModuleList([Block(c, heads, kind, alpha) for _ in range(layers)])
        self.ln_f = make_norm(kind, c, alpha)
        self.scale = nn.Parameter(torch.full((1,), math.sqrt(c))) if kind in ("derf", "dyt") else None
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith(".bias") and "ln" not in name:
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        if self.scale is not None:
            x = x * self.scale
        for blk in self.blocks:
            x = blk(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--norm", default="derf")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup-steps", type=int, default=5, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="torch intra-op threads (default: every core, as derf4j uses; Debian's build defaults to 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1337)
    text = open(args.data, encoding="utf-8").read()
    chars = sorted(set(text))
    data = torch.tensor([chars.index(ch) for ch in text[: int(len(text) * 0.9)]], dtype=torch.long)
    model = GPT(len(chars), args.context, args.layers, args.heads, args.width, args.norm, 0.5)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))

    def step():
        ix = torch.randint(len(data) - args.context - 1, (args.batch,))
        x = torch.stack([data[i:i + args.context] for i in ix])
        y = torch.stack([data[i + 1:i + args.context + 1] for i in ix])
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(args.warmup_steps):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    seconds = time.perf_counter() - start
    tokens = args.steps * args.batch * args.context
    print(json.dumps({"peer": f"pytorch {torch.__version__} eager", "threads": torch.get_num_threads(),
                      "norm": args.norm, "tokens_per_s": tokens / seconds, "steps": args.steps,
                      "final_loss": loss}))


if __name__ == "__main__":
    main()
