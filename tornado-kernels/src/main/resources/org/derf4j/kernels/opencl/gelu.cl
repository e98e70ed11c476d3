// gelu.cl: GELU, tanh form, float4 per work-item; work-item n/4 takes the last n % 4.
//
// gelu(x) = 0.5·x·(1 + tanh(u)) = x·σ(2u), u = √(2/π)·(x + 0.044715·x³). With t = exp(−2|u|) ∈ (0, 1],
// σ(2u) = 1/(1 + t) for u ≥ 0 and t/(1 + t) below, and σ(1 − σ) = t/(1 + t)²: no overflow, and no cancellation in
// the negative tail, where 1 + tanh(u) would keep only tanh's absolute error. exp is common.cl's exp_fit.

#define GELU_K 0.7978845608028654f
#define GELU_CUBIC 0.044715f

float gelu_sigma(float u, float t) {
    return u >= 0.0f ? 1.0f / (1.0f + t) : t / (1.0f + t);
}

float gelu(float x) {
    const float u = GELU_K * (x + GELU_CUBIC * x * x * x);
    return x * gelu_sigma(u, exp_fit(-2.0f * fabs(u)));
}

// gelu'(x) = σ + 2x·u'·σ(1 − σ), u' = √(2/π)·(1 + 3·0.044715·x²)
float gelu_grad(float x) {
    const float u = GELU_K * (x + GELU_CUBIC * x * x * x);
    const float t = exp_fit(-2.0f * fabs(u));
    const float d = 1.0f + t;
    return gelu_sigma(u, t) + 2.0f * x * GELU_K * (1.0f + 3.0f * GELU_CUBIC * x * x) * t / (d * d);
}

__kernel void gelu_forward(__global float *out, __global const float *x, const int n) {
    const int i = get_global_id(0);
    if (i < n / 4) {
        const float4 v = vload4(i, x);
        vstore4((float4) (gelu(v.x), gelu(v.y), gelu(v.z), gelu(v.w)), i, out);
    } else if (i == n / 4) {
        for (int k = 4 * i; k < n; k++) {
            out[k] = gelu(x[k]);
        }
    }
}

// dx += dout·gelu'(x)
__kernel void gelu_backward(__global float *dx, __global const float *dout, __global const float *x, const int n) {
    const int i = get_global_id(0);
    if (i < n / 4) {
        const float4 v = vload4(i, x);
        const float4 g = (float4) (gelu_grad(v.x), gelu_grad(v.y), gelu_grad(v.z), gelu_grad(v.w));
        vstore4(vload4(i, dx) + vload4(i, dout) * g, i, dx);
    } else if (i == n / 4) {
        for (int k = 4 * i; k < n; k++) {
            dx[k] += dout[k] * gelu_grad(x[k]);
        }
    }
}
