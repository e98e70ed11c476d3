// crossentropy.cl: fused softmax cross-entropy over logits[N,V]; targets were checked against V on the host.
//
//   cross_entropy_count    one work-group: n = the rows with a target (≥ 0), in a tree
//   cross_entropy_rows     one work-group per row: the max and the first index that reaches it, then Σexp, in
//                          trees; rowLoss = −log p[target], rowHit = (argmax == target); with withGrad,
//                          dlogits = scale·(p − onehot)/n, written after every work-item has read the row
//                          (dlogits may be logits itself)
//   cross_entropy_finish   one work-group: loss += scale·Σ rowLoss/n, correct += Σ rowHit, rows in a fixed order

__kernel void cross_entropy_count(__global float *count, __global const int *targets, const int N) {
    __local float tree[GROUP];
    float valid = 0.0f; // exact: fewer than 2^24 rows
    for (int i = get_local_id(0); i < N; i += get_local_size(0)) {
        valid += targets[i] >= 0 ? 1.0f : 0.0f;
    }
    const float total = group_sum(valid, tree);
    if (get_local_id(0) == 0) {
        count[0] = total;
    }
}

__kernel void cross_entropy_rows(__global float *rowLoss, __global float *rowHit, __global float *dlogits,
                                 __global const float *logits, __global const int *targets,
                                 __global const float *count, const float scale, const int withGrad, const int V) {
    __local float tree[GROUP];
    __local int firstIndex[GROUP];
    const int lid = get_local_id(0);
    const int step = get_local_size(0);
    const int row = get_group_id(0);
    const int o = row * V;
    const int target = targets[row];
    // the max, and the first index that reaches it: neighbouring work-items read neighbouring logits
    float max = -INFINITY;
    int arg = V;
    for (int j = lid; j < V; j += step) {
        const float l = logits[o + j];
        if (l > max) {
            max = l;
            arg = j;
        }
    }
    tree[lid] = max;
    firstIndex[lid] = arg;
    for (int s = step / 2; s > 0; s >>= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid < s) {
            const float other = tree[lid + s];
            const int otherArg = firstIndex[lid + s];
            if (other > tree[lid] || (other == tree[lid] && otherArg < firstIndex[lid])) {
                tree[lid] = other;
                firstIndex[lid] = otherArg;
            }
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    max = tree[0];
    const int argmax = firstIndex[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    float sum = 0.0f;
    for (int j = lid; j < V; j += step) {
        sum += exp_fit(logits[o + j] - max);
    }
    sum = group_sum(sum, tree);
    const bool counted = target >= 0 && target < V;
    const float targetLogit = counted ? logits[o + target] : 0.0f;
    const float valid = count[0];
    // Every work-item has read the logits it needs before any is overwritten (in place, dlogits = logits). Outside
    // the `if`: OpenCL allows a barrier that every work-item of the group reaches, but PoCL 3.1 wrote out of bounds
    // with this one under `if (withGrad)`.
    barrier(CLK_GLOBAL_MEM_FENCE);
    if (withGrad) {
        const float rowScale = counted && valid > 0.0f ? scale / valid : 0.0f;
        for (int j = lid; j < V; j += step) {
            const float p = exp_fit(logits[o + j] - max) / sum;
            dlogits[o + j] = rowScale * (p - (j == target ? 1.0f : 0.0f));
        }
    }
    if (lid == 0) {
        rowLoss[row] = counted ? log(sum) - (targetLogit - max) : 0.0f;
        rowHit[row] = counted && argmax == target ? 1.0f : 0.0f;
    }
}

__kernel void cross_entropy_finish(__global float *loss, __global float *correct, __global const float *rowLoss,
                                   __global const float *rowHit, __global const float *count, const float scale,
                                   const int withCorrect, const int N) {
    __local float tree[GROUP];
    float l = 0.0f;
    float h = 0.0f;
    for (int i = get_local_id(0); i < N; i += get_local_size(0)) {
        l += rowLoss[i];
        h += rowHit[i];
    }
    const float lossSum = group_sum(l, tree);
    const float hits = group_sum(h, tree);
    if (get_local_id(0) == 0) {
        const float valid = count[0];
        if (valid > 0.0f) {
            loss[0] += scale * lossSum / valid;
        }
        if (withCorrect) {
            correct[0] += hits;
        }
    }
}
