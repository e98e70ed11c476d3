package org.derf4j.kernels;

import static org.derf4j.kernels.HostTensor.download;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Token + position embedding with and without its scale, forward and backward, on every backend, against PyTorch. */
class EmbeddingTest {

    /** {B, T, V, C, maxT}: T below and at maxT, C = 37 (no whole vector), C = 130 (three 64-channel chunks), V = 1. */
    static final int[][] SIZES = {{2, 5, 11, 37, 8}, {3, 8, 7, 37, 8}, {2, 3, 1, 17, 5}, {4, 65, 50, 130, 65},
            {1, 1, 3, 16, 4}};

    static Stream<Arguments> cases() {
        return TestBackends.available().flatMap(p -> Stream.of(SIZES).flatMap(s ->
                Stream.of(true, false).map(scaled -> Arguments.of(p, new Sizes(s), scaled))));
    }

    record Sizes(int b, int t, int v, int c, int maxT) {
        Sizes(int[] s) {
            this(s[0], s[1], s[2], s[3], s[4]);
        }

        @Override
        public String toString() {
            return "B=" + b + " T=" + t + " V=" + v + " C=" + c + " maxT=" + maxT;
        }
    }

    /** The inputs of one case; gradients start random, so the test checks that the scatter adds. */
    private record Case(Sizes n, HostTensor tokens, HostTensor wte, HostTensor wpe, HostTensor scale,
                        HostTensor dout, HostTensor dwte0, HostTensor dwpe0, HostTensor dscale0) {
        static Case random(Sizes n, boolean scaled, SplittableRandom rng) {
            HostTensor tokens = HostTensor.ints("tokens", rng, 0, n.v(), n.b(), n.t());
            // Every sequence repeats its first token at its end, so rows of dwte collect several positions.
            for (int b = 0; b < n.b(); b++) {
                tokens.ints()[b * n.t() + n.t() - 1] = tokens.ints()[b * n.t()];
            }
            return new Case(n, tokens,
                    HostTensor.normal("wte", rng, 0, 1, n.v(), n.c()),
                    HostTensor.normal("wpe", rng, 0, 1, n.maxT(), n.c()),
                    scaled ? HostTensor.uniform("scale", rng, 1, Math.sqrt(n.c()) + 1, 1) : null,
                    HostTensor.normal("out", rng, 0, 1, n.b(), n.t(), n.c()),
                    HostTensor.normal("dwte", rng, 0, 1, n.v(), n.c()),
                    HostTensor.normal("dwpe", rng, 0, 1, n.maxT(), n.c()),
                    HostTensor.normal("dscale", rng, 0, 1, 1));
        }

        TorchReference.Result torch() {
            TorchReference.Call call = TorchReference.call("embedding").input(tokens, wte, wpe).dout(dout);
            if (scale == null) {
                return call.wrt("wte", "wpe").run();
            }
            return call.input(scale).wrt("wte", "wpe", "scale").run();
        }

        /** Runs forward and backward; returns {out, dwte, dwpe, dscale}. */
        float[][] run(Backend backend) {
            try (Tensor tt = tokens.upload(backend); Tensor twte = wte.upload(backend);
                 Tensor twpe = wpe.upload(backend); Tensor ts = scale == null ? null : scale.upload(backend);
                 Tensor tout = backend.allocate("out", n.b(), n.t(), n.c()); Tensor tdout = dout.upload(backend);
                 Tensor tdwte = dwte0.upload(backend); Tensor tdwpe = dwpe0.upload(backend);
                 Tensor tds = scale == null ? null : dscale0.upload(backend)) {
                backend.run(new Embedding.Forward(tout, tt, twte, twpe, ts),
                        new Embedding.Backward(tdwte, tdwpe, tds, tdout, tt, twte, twpe, ts));
                return new float[][] {download(backend, tout), download(backend, tdwte), download(backend, tdwpe),
                        tds == null ? null : download(backend, tds)};
            }
        }

        float scaleValue() {
            return scale == null ? 1f : scale.floats()[0];
        }

        /** Σ |dout·(wte[token]+wpe[t])| over every element: the magnitude the dscale sum works with. */
        double dscaleTermsAbs() {
            double sum = 0;
            for (int row = 0; row < n.b() * n.t(); row++) {
                int w = tokens.ints()[row] * n.c();
                int p = (row % n.t()) * n.c();
                for (int c = 0; c < n.c(); c++) {
                    double embedded = (double) wte.floats()[w + c] + wpe.floats()[p + c];
                    sum += Math.abs(dout.floats()[row * n.c() + c] * embedded);
                }
            }
            return sum;
        }

        /** The most rows (b,t) that share one token: the number of terms a row of dwte sums. */
        int maxTokenCount() {
            int[] count = new int[n.v()];
            int max = 0;
            for (int tok : tokens.ints()) {
                max = Math.max(max, ++count[tok]);
            }
            return max;
        }
    }

    @ParameterizedTest(name = "{0} {1} scaled={2}")
    @MethodSource("cases")
    void matchesPyTorch(BackendProvider provider, Sizes n, boolean scaled) {
        Case c = Case.random(n, scaled, Seeds.random("embedding" + n + scaled));
        TorchReference.Result ref = c.torch();
        TestBackends.with(provider, backend -> {
            float[][] got = c.run(backend);
            // Two roundings (the sum, then the scale): 2u relative. The atol allows a backend that
            // distributes the scale instead, where a cancelling sum costs u·scale·(|wte|+|wpe|) ≲ 4e-6.
            Approx.of(4e-6, 3 * Approx.U32).assertClose("embedding out", got[0], ref.get("out"));
            // Each dwte row sums scale·dout over the rows holding its token, each dwpe row over the batch,
            // on top of the random start (|·| ≲ 5); dscale sums dout·(wte+wpe) over all B·T·C elements,
            // whose magnitudes are known, so its bound uses their actual Σ|t| (Approx.sums' k·m).
            double term = 5 * c.scaleValue();
            Approx.sums(c.maxTokenCount() + 1, term).assertAdded("embedding dwte", got[1], c.dwte0().floats(),
                    ref.grad("wte"));
            Approx.sums(n.b() + 1, term).assertAdded("embedding dwpe", got[2], c.dwpe0().floats(), ref.grad("wpe"));
            if (scaled) {
                int terms = n.b() * n.t() * n.c();
                Approx.sums(terms, c.dscaleTermsAbs() / terms).assertAdded("embedding dscale", got[3],
                        c.dscale0().floats(), ref.grad("scale"));
            }
        });
    }

    /**
     * The backends that check every token id, as the op's Javadoc allows where it costs nothing: the cpu backends as
     * their kernels run, opencl on the host's copy of the tokens before it enqueues the kernels.
     */
    static Stream<Arguments> checkingCases() {
        return TestBackends.available()
                .filter(p -> p.getPayload().name().startsWith("cpu") || p.getPayload().name().equals("opencl"))
                .flatMap(p -> Stream.of(-1, 50).map(bad -> Arguments.of(p, bad)));
    }

    @ParameterizedTest(name = "{0} token {1}", allowZeroInvocations = true)
    @MethodSource("checkingCases")
    void rejectsTokenOutsideVocabulary(BackendProvider provider, int bad) {
        // B·T = 400 rows of C = 130 channels: the forward runs in two row chunks and the backward in three
        // channel chunks, so the error crosses the thread team; the bad token sits in the second row chunk.
        Sizes n = new Sizes(2, 200, 50, 130, 200);
        Case c = Case.random(n, true, Seeds.random("embedding-bad-token" + bad));
        int row = 333;
        c.tokens().ints()[row] = bad;
        TestBackends.with(provider, backend -> {
            try (Tensor tt = c.tokens().upload(backend); Tensor twte = c.wte().upload(backend);
                 Tensor twpe = c.wpe().upload(backend); Tensor ts = c.scale().upload(backend);
                 Tensor tout = backend.allocate("out", n.b(), n.t(), n.c()); Tensor tdout = c.dout().upload(backend);
                 Tensor tdwte = backend.allocate("dwte", n.v(), n.c());
                 Tensor tdwpe = backend.allocate("dwpe", n.maxT(), n.c()); Tensor tds = backend.allocate("ds", 1)) {
                String expected = "token id " + bad + " at row " + row;
                IllegalArgumentException forward = assertThrows(IllegalArgumentException.class,
                        () -> backend.run(new Embedding.Forward(tout, tt, twte, twpe, ts)));
                assertTrue(forward.getMessage().contains(expected), forward.getMessage());
                IllegalArgumentException backward = assertThrows(IllegalArgumentException.class,
                        () -> backend.run(new Embedding.Backward(tdwte, tdwpe, tds, tdout, tt, twte, twpe, ts)));
                assertTrue(backward.getMessage().contains(expected), backward.getMessage());
                // The backend survives the failure (on cpu, its thread team): a good batch runs on it afterwards.
                c.tokens().ints()[row] = 0;
                backend.upload(tt, c.tokens().ints());
                backend.run(new Embedding.Forward(tout, tt, twte, twpe, ts));
            }
        });
    }
}
