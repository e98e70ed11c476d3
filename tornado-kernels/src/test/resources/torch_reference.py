"""PyTorch reference for derf4j's ops, serving the Java tests over stdin/stdout.

Every op is defined once here, in float64, as PyTorch code. For each request the server returns
  * the forward outputs,
  * the autograd gradients of L = sum_o <dout_o, out_o> with respect to the requested inputs,
  * optionally the same gradients by central finite differences in float64, which checks the backward
    math without trusting any autograd formula.

Protocol, one request at a time:
  request : one JSON line {"op", "params", "inputs": [{"name","dtype","shape"}],
                           "douts": [{"name","shape"}], "wrt": [names], "fd": bool}
            then the raw little-endian bytes of every input (f32 or i32), then of every dout (f32)
  response: one JSON line {"tensors": [{"name","shape"}]} or {"error": "..."}
            then the raw little-endian float64 bytes of every listed tensor. Gradient tensors are
            named "grad:<input>" and "fd:<input>".
"""
import json
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


# The point-wise norms, gamma * f(alpha * x + shift) + beta: each kind's f, and whether it has a shift. The op
# of the same name and the GPT below both use them; a new kind of PointwiseNorm adds its line here.
POINTWISE = {"derf": (torch.erf, True), "dyt": (torch.tanh, False)}


def pointwise(kind, x, alpha, shift, gamma, beta):
    f, _ = POINTWISE[kind]
    return gamma * f(alpha * x + (0 if shift is None else shift)) + beta


def pointwise_op(kind):
    """The op "<kind>": inputs x, alpha, (shift,) gamma, beta."""
    if POINTWISE[kind][1]:
        return lambda p, x, alpha, shift, gamma, beta: {"out": pointwise(kind, x, alpha, shift, gamma, beta)}
    return lambda p, x, alpha, gamma, beta: {"out": pointwise(kind, x, alpha, None, gamma, beta)}


def layernorm(p, x, gamma, beta):
    c = x.shape[-1]
    mean = x.mean(-1)
    rstd = torch.rsqrt(x.var(-1, unbiased=False) + p["eps"])
    out = F.layer_norm(x, (c,), gamma, beta, p["eps"])
    return {"out": out, "mean": mean, "rstd": rstd}


def rmsnorm(p, x, gamma):
    rstd = torch.rsqrt((x * x).mean(-1) + p["eps"])
    return {"out": x * rstd.unsqueeze(-1) * gamma, "rstd": rstd}


def linear(p, x, w, bias=None):
    return {"out": F.linear(x, w, bias)}


def gelu(p, x):
    return {"out": F.gelu(x, approximate="tanh")}


def erf(p, x):
    return {"out": torch.erf(x)}


def exp(p, x):
    return {"out": torch.exp(x)}


def residual(p, a, b):
    return {"out": a + b}


def attention(p, qkv):
    b, t, c3 = qkv.shape
    c = c3 // 3
    nh = p["heads"]
    hs = c // nh
    q, k, v = qkv.split(c, dim=2)
    q = q.view(b, t, nh, hs).transpose(1, 2)
    k = k.view(b, t, nh, hs).transpose(1, 2)
    v = v.view(b, t, nh, hs).transpose(1, 2)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
    mask = torch.ones(t, t, dtype=torch.bool).tril()
    scores = scores.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)
    att = torch.softmax(scores, dim=-1)
    out = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
    return {"out": out, "lse": lse}


def embedding(p, tokens, wte, wpe, scale=None):
    t = tokens.shape[1]
    out = wte[tokens.long()] + wpe[:t].unsqueeze(0)
    return {"out": out if scale is None else scale * out}


def cross_entropy(p, logits, targets):
    v = logits.shape[-1]
    flat = logits.reshape(-1, v)
    tgt = targets.reshape(-1).long()
    loss = F.cross_entropy(flat, tgt, ignore_index=-1) * p["scale"]
    valid = tgt >= 0
    correct = (flat.argmax(-1) == tgt)[valid].sum().double()
    return {"loss": loss.reshape(1), "correct": correct.reshape(1)}


def adamw(p, param, grad, m, v):
    w = param.detach().clone().requires_grad_(True)
    opt = torch.optim.AdamW([w], lr=p["lr"], betas=(p["beta1"], p["beta2"]), eps=p["eps"],
                            weight_decay=p["weight_decay"])
    w.grad = grad.detach().clone() * p["clip_factor"]
    if p["step"] > 1:
        opt.state[w] = {"step": torch.tensor(float(p["step"] - 1)), "exp_avg": m.detach().clone(),
                        "exp_avg_sq": v.detach().clone()}
    opt.step()
    state = opt.state[w]
    return {"param": w.detach(), "m": state["exp_avg"], "v": state["exp_avg_sq"]}


def grad_clip(p, **grads):
    ts = [g.detach().clone() for g in grads.values()]
    for t in ts:
        t.grad = t.clone()
    norm = torch.nn.utils.clip_grad_norm_(ts, p["max_norm"]) if p["max_norm"] > 0 else \
        torch.sqrt(sum((t * t).sum() for t in ts))
    factor = min(1.0, p["max_norm"] / (float(norm) + 1e-6)) if p["max_norm"] > 0 else 1.0
    return {"stats": torch.tensor([float(norm), factor])}


def load_safetensors(path):
    """Reads a safetensors file with numpy alone (Debian has no safetensors package)."""
    with open(path, "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_len))
        data = f.read()
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        assert spec["dtype"] == "F32", name
        begin, end = spec["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype="<f4").reshape(spec["shape"])
        tensors[name] = torch.from_numpy(arr.copy()).double()
    return tensors


def gpt(p, tokens, targets):
    """derf4j's GPT in PyTorch, nanoGPT-style with the Derf paper's changes, from a safetensors file.

    Returns the logits, the mean cross-entropy (ignoring targets of -1) and the gradient of that loss
    with respect to every weight in the file, as "grad:<name>".
    """
    w = {n: t.requires_grad_(True) for n, t in load_safetensors(p["weights"]).items()}
    kind, c = p["norm"], w["transformer.wte.weight"].shape[1]

    def norm(prefix, x):
        if kind in POINTWISE:
            return pointwise(kind, x, w[prefix + "alpha"], w.get(prefix + "shift"), w[prefix + "weight"],
                             w[prefix + "bias"])
        if kind == "layernorm":
            return F.layer_norm(x, (c,), w[prefix + "weight"], w[prefix + "bias"], 1e-5)
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5) * w[prefix + "weight"]

    def linear(prefix, x):
        return F.linear(x, w[prefix + "weight"], w[prefix + "bias"])

    t = tokens.shape[1]
    x = w["transformer.wte.weight"][tokens.long()] + w["transformer.wpe.weight"][:t]
    if kind in POINTWISE:
        x = x * w["shared_scale"]
    for layer in range(p["layers"]):
        h = f"transformer.h.{layer}."
        y = attention(p, linear(h + "attn.c_attn.", norm(h + "ln_1.", x)))["out"]
        x = x + linear(h + "attn.c_proj.", y)
        m = F.gelu(linear(h + "mlp.c_fc.", norm(h + "ln_2.", x)), approximate="tanh")
        x = x + linear(h + "mlp.c_proj.", m)
    logits = F.linear(norm("transformer.ln_f.", x), w["transformer.wte.weight"])
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long(), ignore_index=-1)
    loss.backward()
    grads = {"grad:" + n: (t.grad if t.grad is not None else torch.zeros_like(t)) for n, t in w.items()}
    return {"logits": logits.detach(), "loss": loss.detach().reshape(1), **grads}


OPS = {f.__name__: f for f in (layernorm, rmsnorm, linear, gelu, residual, attention, embedding,
                                cross_entropy, adamw, grad_clip, erf, exp, gpt)}
OPS.update({kind: pointwise_op(kind) for kind in POINTWISE})


def read_exact(n):
    buf = sys.stdin.buffer.read(n)
    if len(buf) != n:
        raise EOFError
    return buf


def read_tensor(spec):
    dtype = np.float32 if spec.get("dtype", "f32") == "f32" else np.int32
    count = int(np.prod(spec["shape"]))
    arr = np.frombuffer(read_exact(count * 4), dtype="<" + dtype().dtype.str[1:]).reshape(spec["shape"])
    t = torch.from_numpy(arr.copy())
    return t.double() if dtype == np.float32 else t.int()


def scalar_loss(fn, params, inputs, douts):
    outs = fn(params, **inputs)
    return sum((outs[name] * d).sum() for name, d in douts.items())


def finite_differences(fn, params, inputs, douts, name):
    """Central differences of L in float64, with a step scaled to each element."""
    x = inputs[name]
    grad = torch.zeros_like(x)
    flat = x.view(-1)
    with torch.no_grad():
        for i in range(flat.numel()):
            orig = flat[i].item()
            h = 1e-6 * max(1.0, abs(orig))
            flat[i] = orig + h
            up = scalar_loss(fn, params, inputs, douts).item()
            flat[i] = orig - h
            down = scalar_loss(fn, params, inputs, douts).item()
            flat[i] = orig
            grad.view(-1)[i] = (up - down) / (2 * h)
    return grad


def handle(req):
    inputs = {s["name"]: read_tensor(s) for s in req["inputs"]}
    douts = {s["name"]: read_tensor(s) for s in req.get("douts", [])}
    fn = OPS[req["op"]]  # after the reads, so that an unknown op leaves the stream in step
    params = req.get("params", {})
    wrt = req.get("wrt", [])
    for name in wrt:
        inputs[name].requires_grad_(True)
    outs = fn(params, **inputs)
    result = {name: t.detach() for name, t in outs.items()}
    if wrt:
        loss = sum((outs[name] * d).sum() for name, d in douts.items())
        grads = torch.autograd.grad(loss, [inputs[n] for n in wrt], allow_unused=True)
        for name, g in zip(wrt, grads):
            result["grad:" + name] = torch.zeros_like(inputs[name]) if g is None else g
        if req.get("fd"):
            plain = {n: t.detach().clone() for n, t in inputs.items()}
            for name in wrt:
                result["fd:" + name] = finite_differences(fn, params, plain, douts, name)
    return result


def main():
    out = sys.stdout.buffer
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            return
        req = json.loads(line)
        try:
            result = handle(req)
        except EOFError:
            return
        except Exception as e:  # report to the Java side instead of dying
            out.write((json.dumps({"error": f"{type(e).__name__}: {e}"}) + "\n").encode())
            out.flush()
            continue
        specs = [{"name": n, "shape": list(t.shape)} for n, t in result.items()]
        out.write((json.dumps({"tensors": specs}) + "\n").encode())
        for t in result.values():
            out.write(t.double().contiguous().numpy().astype("<f8").tobytes())
        out.flush()


if __name__ == "__main__":
    main()
