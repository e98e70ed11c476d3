// adamw.cl: AdamW, and the global gradient norm that feeds its clip factor. The hyper-parameters are a device
// buffer the host fills before each step (indices as in AdamW.java), so a compiled step is never recompiled.
//
//   adamw              float4 per work-item (work-item n/4 takes the last n % 4): p, m, v updated in place
//   grad_sum_squares   per gradient, a fixed number of work-groups, each summing g² over a grid-stride range in
//                      a tree → partial[offset + group]
//   grad_clip_stats    one work-group: Σ partial (each work-item a fixed subset, then a tree) → {norm, factor}
// Both sums are in a fixed order: deterministic. The build defines the indices into hyper (LR, BETA1, BETA2, EPS,
// WEIGHT_DECAY, BIAS_CORRECTION1, BIAS_CORRECTION2) and NORM_EPS from AdamW.java and GradClip.java.

// g = grad·clip[1]; p ← p·(1 − lr·wd if decay); m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
// p ← p − lr·(m/bc1)/(√(v/bc2) + eps)
__kernel void adamw(__global float *p, __global const float *grad, __global float *m, __global float *v,
                    __global const float *hyper, __global const float *clip, const int decay, const int n) {
    const int i = get_global_id(0);
    const float lr = hyper[LR];
    const float b1 = hyper[BETA1];
    const float b2 = hyper[BETA2];
    const float eps = hyper[EPS];
    const float keep = decay ? 1.0f - lr * hyper[WEIGHT_DECAY] : 1.0f;
    const float bc1 = hyper[BIAS_CORRECTION1];
    const float bc2 = hyper[BIAS_CORRECTION2];
    const float factor = clip[1];
    if (i < n / 4) {
        const float4 g = vload4(i, grad) * factor;
        const float4 mi = b1 * vload4(i, m) + (1.0f - b1) * g;
        const float4 vi = b2 * vload4(i, v) + (1.0f - b2) * g * g;
        vstore4(mi, i, m);
        vstore4(vi, i, v);
        vstore4(vload4(i, p) * keep - lr * (mi / bc1) / (sqrt(vi / bc2) + eps), i, p);
    } else if (i == n / 4) {
        for (int k = 4 * i; k < n; k++) {
            const float g = grad[k] * factor;
            const float mi = b1 * m[k] + (1.0f - b1) * g;
            const float vi = b2 * v[k] + (1.0f - b2) * g * g;
            m[k] = mi;
            v[k] = vi;
            p[k] = p[k] * keep - lr * (mi / bc1) / (sqrt(vi / bc2) + eps);
        }
    }
}

// partial[offset + group] = Σ g² over the group's grid-stride share of g[0, n)
__kernel void grad_sum_squares(__global float *partial, __global const float *g, const int offset, const int n) {
    __local float tree[GROUP];
    float acc = 0.0f;
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        const float x = g[i];
        acc = fma(x, x, acc);
    }
    const float sum = group_sum(acc, tree);
    if (get_local_id(0) == 0) {
        partial[offset + get_group_id(0)] = sum;
    }
}

// stats = {√Σ partial, min(1, maxNorm/(norm + 1e-6))}, the factor 1 when maxNorm is 0 (GradClip.clipFactor)
__kernel void grad_clip_stats(__global float *stats, __global const float *partial, const int count,
                              const float maxNorm) {
    __local float tree[GROUP];
    float acc = 0.0f;
    for (int i = get_local_id(0); i < count; i += get_local_size(0)) {
        acc += partial[i];
    }
    const float sum = group_sum(acc, tree);
    if (get_local_id(0) == 0) {
        const float norm = sqrt(sum);
        stats[0] = norm;
        stats[1] = maxNorm == 0.0f ? 1.0f : fmin(1.0f, maxNorm / (norm + NORM_EPS));
    }
}
