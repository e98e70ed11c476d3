package org.derf4j.kernels.cpu;

import java.util.ArrayList;
import java.util.List;
import org.derf4j.kernels.AbstractBackend;
import org.derf4j.kernels.DType;
import org.derf4j.kernels.Executable;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.Op;

/**
 * The cpu backend: tensors are Java arrays, and a compiled graph is a list of kernels that run one after
 * another on a {@link ThreadTeam}. It is the default where no accelerator is found, and the reference that
 * the other backends are checked against.
 *
 * <p>Two variants share it: {@link Variant#FAST} (Vector API, multi-threaded) and {@link Variant#REFERENCE}
 * (plain scalar loops on one thread, the check for everything else).
 */
public final class CpuBackend extends AbstractBackend<CpuTensor> {

    public enum Variant {
        /** Vector API kernels on every core. */
        FAST,
        /** Plain scalar loops on one thread. */
        REFERENCE
    }

    private final Variant variant;
    private final ThreadTeam team;

    /** The fast variant on every available core. */
    public CpuBackend() {
        this(Variant.FAST, Runtime.getRuntime().availableProcessors());
    }

    public CpuBackend(Variant variant, int threads) {
        super(CpuTensor.class);
        this.variant = variant;
        this.team = new ThreadTeam(variant == Variant.REFERENCE ? 1 : threads);
    }

    @Override
    public String name() {
        return variant == Variant.FAST ? "cpu" : "cpu-reference";
    }

    @Override
    public String device() {
        return variant == Variant.FAST
                ? "CPU, " + team.threads() + " threads, Vector API " + jdk.incubator.vector.FloatVector.SPECIES_PREFERRED
                        .vectorBitSize() + "-bit"
                : "CPU, plain scalar reference code, 1 thread";
    }

    @Override
    protected CpuTensor newTensor(String name, DType dtype, int[] shape) {
        return new CpuTensor(this, name, dtype, shape);
    }

    void released(CpuTensor t) {
        forget(t);
    }

    @Override
    protected void uploadChecked(CpuTensor dst, float[] src) {
        System.arraycopy(src, 0, dst.floats(), 0, src.length);
    }

    @Override
    protected void uploadChecked(CpuTensor dst, int[] src) {
        System.arraycopy(src, 0, dst.ints(), 0, src.length);
    }

    @Override
    protected void downloadChecked(CpuTensor src, float[] dst) {
        System.arraycopy(src.floats(), 0, dst, 0, dst.length);
    }

    @Override
    protected void downloadChecked(CpuTensor src, int[] dst) {
        System.arraycopy(src.ints(), 0, dst, 0, dst.length);
    }

    @Override
    protected Executable compileChecked(Graph graph) {
        CpuCompiler compiler = new CpuCompiler(team, variant == Variant.REFERENCE);
        List<Runnable> kernels = new ArrayList<>(graph.ops().size());
        for (Op op : graph.ops()) {
            kernels.add(compiler.compile(op));
        }
        Runnable[] steps = kernels.toArray(Runnable[]::new);
        return new Executable() {
            @Override
            public Graph graph() {
                return graph;
            }

            @Override
            public void run() {
                for (Runnable step : steps) {
                    step.run();
                }
            }

            @Override
            public void close() {
                // Scratch memory goes with the executable to the garbage collector.
            }
        };
    }

    @Override
    protected void closeDevice() {
        team.close();
    }
}
