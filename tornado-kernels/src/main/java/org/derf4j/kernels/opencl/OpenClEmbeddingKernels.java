package org.derf4j.kernels.opencl;

import static org.derf4j.kernels.opencl.OpenClCompiler.launch;

import java.util.ArrayList;
import java.util.List;
import org.derf4j.kernels.Embedding;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.opencl.OpenClCompiler.Buffer;
import org.derf4j.kernels.opencl.OpenClDevice.Program;

/**
 * Token + position embedding with a scale ({@code embedding.cl}). Token ids are checked on the host, from the host's
 * copy of the int32 tensor, before the kernels are enqueued (the kernels clamp them as well).
 *
 * <p>The backward adds into dwte without atomics, as llm.c's encoder backward does: whenever the tokens have
 * changed, the host step sorts the rows into buckets by token (a counting sort, rows in order) and uploads them; a
 * work-group per bucket then owns its row of dwte, and the sum over the bucket's rows has a fixed order.
 */
final class OpenClEmbeddingKernels {
    private OpenClEmbeddingKernels() {
    }

    static Program program(int C) {
        return new Program("embedding", List.of("embedding.cl"), OpenClCompiler.defines("VEC", OpenClCompiler.vec(C)),
                List.of("embedding_forward", "embedding_backward_tokens", "embedding_backward_positions"));
    }

    /** Checks every token id of the host's copy against [0, V). */
    private static OpenClCompiler.Host tokenCheck(Tensor tokens, int V) {
        OpenClTensor t = OpenClCompiler.tensor(tokens);
        return new OpenClCompiler.Host(() -> {
            int[] ids = t.ints();
            for (int row = 0; row < ids.length; row++) {
                if (ids[row] < 0 || ids[row] >= V) {
                    throw Embedding.badToken(ids[row], row, V);
                }
            }
        });
    }

    static List<OpenClCompiler.Step> steps(Embedding.Forward e, OpenClCompiler c) {
        int T = e.tokens().dim(1);
        int C = e.wte().dim(1);
        int V = e.wte().dim(0);
        int n = e.out().size();
        return List.of(tokenCheck(e.tokens(), V), launch("embed", program(C), "embedding_forward",
                c.groupsFor(n / OpenClCompiler.vec(C)), c.group, e.out(), e.tokens(), e.wte(), e.wpe(),
                c.orOne(e.scale()), T, C, V, n));
    }

    static List<OpenClCompiler.Step> steps(Embedding.Backward e, OpenClCompiler c) {
        int B = e.tokens().dim(0);
        int T = e.tokens().dim(1);
        int C = e.wte().dim(1);
        int V = e.wte().dim(0);
        int N = B * T;
        int cv = C / OpenClCompiler.vec(C);
        Object scale = c.orOne(e.scale());
        Buckets buckets = new Buckets(c, OpenClCompiler.tensor(e.tokens()), V);
        long positionGroups = c.groupsFor((long) T * cv);
        Buffer partial = c.scratchFloats(positionGroups, "dscale partials");
        List<OpenClCompiler.Step> steps = new ArrayList<>();
        steps.add(tokenCheck(e.tokens(), V));
        steps.add(new OpenClCompiler.Host(buckets::update));
        steps.add(OpenClCompiler.launchAtRun("tokens", program(C), "embedding_backward_tokens", buckets::count,
                c.rowGroup(cv), e.dwte(), e.dout(), buckets.buffer, scale, N, C, V));
        steps.add(launch("positions", program(C), "embedding_backward_positions", positionGroups, c.group, e.dwpe(),
                partial, e.dout(), e.tokens(), e.wte(), e.wpe(), scale, B, T, C, V));
        if (e.dscale() != null) {
            steps.add(OpenClReductions.addSum(c, e.dscale(), partial, (int) positionGroups));
        }
        return steps;
    }

    /**
     * The rows of each token, sorted on the host whenever the tokens change, in one int32 device buffer:
     * {@code [first index of each bucket, then N] [the rows, grouped by token] [each bucket's token]}, N + 1, N
     * and N ints (see embedding.cl).
     */
    private static final class Buckets {
        private final OpenClBackend backend;
        private final OpenClTensor tokens;
        private final int vocab;
        private final Buffer buffer;
        private final int[] host;
        private final int[] firstRow;
        private long builtFrom = -1;
        private int count;

        Buckets(OpenClCompiler c, OpenClTensor tokens, int vocab) {
            this.backend = c.backend();
            this.tokens = tokens;
            this.vocab = vocab;
            int n = tokens.size();
            this.buffer = c.scratchFloats(3L * n + 1, "embedding buckets");
            this.host = new int[3 * n + 1];
            this.firstRow = new int[vocab + 1];
        }

        int count() {
            return count;
        }

        /** Re-sorts and uploads when the tokens changed since the last sort; the token check has run. */
        void update() {
            if (tokens.version() == builtFrom) {
                return;
            }
            int[] ids = tokens.ints();
            int n = ids.length;
            java.util.Arrays.fill(firstRow, 0);
            for (int id : ids) {
                firstRow[id + 1]++;
            }
            for (int v = 0; v < vocab; v++) {
                firstRow[v + 1] += firstRow[v];
            }
            count = 0;
            for (int v = 0; v < vocab; v++) {
                if (firstRow[v + 1] > firstRow[v]) {
                    host[count] = firstRow[v];
                    host[2 * n + 1 + count] = v;
                    count++;
                }
            }
            host[count] = n;
            for (int row = 0; row < n; row++) {
                host[n + 1 + firstRow[ids[row]]++] = row; // firstRow[v] walks through bucket v: rows in order
            }
            backend.upload(buffer.mem(), host, "embedding buckets");
            builtFrom = tokens.version();
        }
    }
}
