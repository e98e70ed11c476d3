package org.derf4j.training;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.derf4j.kernels.AdamW;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.GradClip;
import org.derf4j.kernels.Graph;
import org.derf4j.kernels.Tensor;
import org.derf4j.transformer.Parameter;
import org.derf4j.transformer.Safetensors;

/**
 * AdamW over a model's parameters, with global gradient-norm clipping, entirely on the device: the update
 * graph computes the clip factor and applies it inside each AdamW op, and the host only uploads the
 * step's hyper-parameters (seven floats).
 *
 * <p>A <em>frozen</em> parameter (an ablation: α at its init, or Derf without its shift) keeps its value: it
 * has no AdamW op and its gradient is left out of the clipped global norm, as if PyTorch had it with
 * {@code requires_grad = False}. Its moments are still allocated (and stay zero), so that a checkpoint holds
 * the same tensors whatever is frozen.
 */
public final class AdamWOptimizer implements AutoCloseable {

    /** AdamW's constants; the learning rate comes from the schedule each step. */
    public record Settings(float beta1, float beta2, float eps, float weightDecay, float gradClip) {
        public Settings {
            if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
                throw new IllegalArgumentException("AdamW betas must be in [0, 1), got " + beta1 + ", " + beta2);
            }
            if (!(eps > 0) || !(weightDecay >= 0) || !(gradClip >= 0)) {
                throw new IllegalArgumentException("AdamW needs eps > 0, weight decay ≥ 0 and grad clip ≥ 0, got "
                        + eps + ", " + weightDecay + ", " + gradClip);
            }
        }
    }

    private final Backend backend;
    private final List<Parameter> params;
    private final Set<Parameter> frozen;
    private final Settings settings;
    private final List<Tensor> m = new ArrayList<>();
    private final List<Tensor> v = new ArrayList<>();
    private final Tensor hyper;
    private final Tensor clipStats;
    private final float[] hostHyper = new float[AdamW.HYPER_SIZE];
    private final float[] hostClipStats = new float[2];

    public AdamWOptimizer(Backend backend, List<Parameter> params, Settings settings) {
        this(backend, params, Set.of(), settings);
    }

    /** AdamW over {@code params}, leaving those in {@code frozen} (a subset) at their values. */
    public AdamWOptimizer(Backend backend, List<Parameter> params, Set<Parameter> frozen, Settings settings) {
        this.backend = backend;
        this.params = List.copyOf(params);
        if (!this.params.containsAll(frozen)) {
            throw new IllegalArgumentException("AdamW: a frozen parameter is not among the optimised ones");
        }
        this.frozen = Set.copyOf(frozen);
        this.settings = settings;
        for (Parameter p : params) {
            m.add(backend.allocate("adam.m:" + p.name(), p.shape()));
            v.add(backend.allocate("adam.v:" + p.name(), p.shape()));
        }
        hyper = backend.allocate("adam.hyper", AdamW.HYPER_SIZE);
        clipStats = backend.allocate("grad.clip", 2);
    }

    /**
     * Records the update: the global norm and clip factor, then one AdamW op per parameter; frozen parameters
     * take part in neither.
     */
    public void recordUpdate(Graph.Builder g) {
        g.input(hyper);
        g.add(new GradClip(clipStats, settings.gradClip(),
                params.stream().filter(p -> !frozen.contains(p)).map(Parameter::grad).toList()));
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            if (!frozen.contains(p)) {
                g.add(new AdamW(p.value(), p.grad(), m.get(i), v.get(i), hyper, clipStats, p.decay()));
            }
        }
    }

    /** Uploads the hyper-parameters of step {@code step} (counting from 1) before the update runs. */
    public void prepare(long step, float lr) {
        AdamW.hyper(hostHyper, lr, settings.beta1(), settings.beta2(), settings.eps(), settings.weightDecay(), step);
        backend.upload(hyper, hostHyper);
    }

    /** The global gradient norm of the last update, before clipping: two floats read from the device. */
    public float lastGradNorm() {
        backend.download(clipStats, hostClipStats);
        return hostClipStats[0];
    }

    /** The moments, named {@code exp_avg.<param>} and {@code exp_avg_sq.<param>} as PyTorch's state calls them. */
    public List<Safetensors.Entry> downloadState() {
        List<Safetensors.Entry> out = new ArrayList<>();
        for (int i = 0; i < params.size(); i++) {
            out.add(entry("exp_avg." + params.get(i).name(), m.get(i)));
            out.add(entry("exp_avg_sq." + params.get(i).name(), v.get(i)));
        }
        return out;
    }

    public void uploadState(Map<String, Safetensors.Entry> entries, String source) {
        for (int i = 0; i < params.size(); i++) {
            upload(entries, "exp_avg." + params.get(i).name(), m.get(i), source);
            upload(entries, "exp_avg_sq." + params.get(i).name(), v.get(i), source);
        }
    }

    private Safetensors.Entry entry(String name, Tensor t) {
        float[] values = new float[t.size()];
        backend.download(t, values);
        return new Safetensors.Entry(name, t.shape(), values);
    }

    private void upload(Map<String, Safetensors.Entry> entries, String name, Tensor t, String source) {
        Safetensors.Entry e = entries.get(name);
        if (e == null || !java.util.Arrays.equals(e.shape(), t.shape())) {
            throw new IllegalArgumentException(source + ": optimizer state '" + name + "' is "
                    + (e == null ? "missing" : "of shape " + java.util.Arrays.toString(e.shape())) + ", expected shape "
                    + java.util.Arrays.toString(t.shape()));
        }
        backend.upload(t, e.values());
    }

    @Override
    public void close() {
        m.forEach(Tensor::close);
        v.forEach(Tensor::close);
        hyper.close();
        clipStats.close();
    }
}
