package org.derf4j.bench;

import java.util.Locale;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.Tensor;
import org.derf4j.kernels.cpu.CpuBackend;
import org.derf4j.training.TrainConfig;
import org.derf4j.training.distributed.Collective;
import org.derf4j.training.distributed.GradientAllReduce;
import org.derf4j.training.distributed.World;
import org.derf4j.transformer.Gpt;
import org.derf4j.transformer.GptConfig;
import org.derf4j.transformer.Parameter;

/**
 * What the all-reduce of data-parallel training costs per step, for the gradients of the GPT that
 * {@link TrainStepBenchmark} trains (4 layers, width 256, 4 heads, context 128, 65 symbols): the host
 * round trip of {@link GradientAllReduce} on the cpu backend, split into the collective and the copies.
 * Run it under MPI, from the repository root after a build:
 * <pre>
 *   mpirun -np 2 --bind-to core java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *       -cp "$(cat .derf/bench-classpath)" org.derf4j.bench.AllReduceTiming
 * </pre>
 * Timed by hand rather than with JMH: JMH calls a benchmark from threads of its own and decides how many
 * calls each fork makes, while a collective must be called the same number of times by every rank, from
 * the thread that started MPI. Every rank runs the same loop, warm-up calls and then timed calls back to
 * back; after the first, the calls keep the ranks in step, so a call's time is the collective's own and
 * not a wait for a slower rank, as it can be in training.
 */
public final class AllReduceTiming {
    private AllReduceTiming() {
    }

    private static final int WARMUP = 20;
    private static final int TIMED = 200;

    public static void main(String[] args) {
        int code = 0;
        try {
            run();
        } catch (RuntimeException e) {
            e.printStackTrace();
            code = 1;
        }
        System.exit(World.leave(code)); // MPI_Finalize, or MPI_Abort so that no rank waits for this one
    }

    private static void run() {
        Collective world = World.join();
        if (world.size() < 2) {
            throw new IllegalStateException("AllReduceTiming measures a collective: start it with mpirun -np 2 (or"
                    + " more), see its Javadoc");
        }
        // The text defaults are that model; the file is not read, only tinyshakespeare's 65 symbols matter.
        GptConfig config = TrainConfig.textDefaults("tinyshakespeare.txt").model(65, 128);
        try (Backend backend = new CpuBackend(); Gpt model = new Gpt(backend, config);
             Tensor loss = backend.allocate("loss", 1)) {
            var gradients = model.weights().all().stream().map(Parameter::grad).toList();
            try (GradientAllReduce warm = new GradientAllReduce(backend, world, gradients, loss)) {
                for (int i = 0; i < WARMUP; i++) {
                    warm.run();
                }
            }
            try (GradientAllReduce timed = new GradientAllReduce(backend, world, gradients, loss)) {
                for (int i = 0; i < TIMED; i++) {
                    timed.run();
                }
                if (world.rank() == 0) {
                    System.out.printf(Locale.ROOT, "%s; %d layers × width %d: %s%n", world.describe(), config.layers(),
                            config.width(), timed.describeCost());
                }
            }
        }
    }
}
