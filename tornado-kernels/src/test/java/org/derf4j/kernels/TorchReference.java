package org.derf4j.kernels;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * PyTorch as the numerical reference: one Python process per JVM ({@code torch_reference.py}), which
 * computes an op's forward in float64, its autograd gradients and, on request, its finite-difference
 * gradients.
 *
 * <p>Without PyTorch a test that needs it is skipped with the reason, except in CI ({@code CI=true}),
 * where it fails: CI installs PyTorch, so its absence there is a broken setup, not a reason to pass.
 * The interpreter is {@code $DERF4J_PYTHON}, else Debian's {@code /usr/bin/python3}, else {@code python3}.
 */
public final class TorchReference {

    /** What the Python side computed, as float64 values by name. */
    public record Result(Map<String, double[]> tensors) {
        public double[] get(String name) {
            double[] t = tensors.get(name);
            if (t == null) {
                throw new IllegalArgumentException("PyTorch returned no '" + name + "', only " + tensors.keySet());
            }
            return t;
        }

        public double[] grad(String input) {
            return get("grad:" + input);
        }

        public double[] finiteDifference(String input) {
            return get("fd:" + input);
        }
    }

    /** One request: an op name, its parameters, inputs, output gradients, and what to differentiate. */
    public static final class Call {
        private final String op;
        private final Map<String, Object> params = new LinkedHashMap<>();
        private final List<HostTensor> inputs = new ArrayList<>();
        private final List<HostTensor> douts = new ArrayList<>();
        private final List<String> wrt = new ArrayList<>();
        private boolean finiteDifferences;

        private Call(String op) {
            this.op = op;
        }

        public Call param(String name, Object value) {
            params.put(name, value);
            return this;
        }

        public Call input(HostTensor... tensors) {
            inputs.addAll(List.of(tensors));
            return this;
        }

        /** The gradient flowing into output {@code dout.name()}. */
        public Call dout(HostTensor dout) {
            douts.add(dout);
            return this;
        }

        /** Inputs to differentiate L = Σ ⟨dout, out⟩ with respect to. */
        public Call wrt(String... names) {
            wrt.addAll(List.of(names));
            return this;
        }

        /** Also compute the gradients by central finite differences in float64. */
        public Call finiteDifferences() {
            finiteDifferences = true;
            return this;
        }

        public Result run() {
            return instance().send(this);
        }
    }

    private static TorchReference instance;
    private static String unavailable;

    private final Process process;
    private final OutputStream toPython;
    private final DataInputStream fromPython;

    private TorchReference(Process process) {
        this.process = process;
        this.toPython = new BufferedOutputStream(process.getOutputStream(), 1 << 16);
        this.fromPython = new DataInputStream(new BufferedInputStream(process.getInputStream(), 1 << 16));
    }

    public static Call call(String op) {
        return new Call(op);
    }

    /** True when running in CI, where a missing reference must fail the test. */
    public static boolean inCi() {
        return "true".equalsIgnoreCase(System.getenv("CI"));
    }

    /** The shared reference, started on first use; skips (or, in CI, fails) the test if PyTorch is missing. */
    public static synchronized TorchReference instance() {
        if (instance == null && unavailable == null) {
            try {
                instance = start();
            } catch (IOException | RuntimeException e) {
                unavailable = e.getMessage();
            }
        }
        if (instance == null) {
            String why = "PyTorch reference unavailable: " + unavailable
                    + ". Install Debian's python3-torch (apt install python3-torch) or set DERF4J_PYTHON.";
            if (inCi()) {
                fail(why + " CI=true, so this is a failure, not a skip.");
            }
            Assumptions.abort(why);
        }
        return instance;
    }

    private static String python() {
        String env = System.getenv("DERF4J_PYTHON");
        if (env != null && !env.isBlank()) {
            return env;
        }
        return Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
    }

    private static TorchReference start() throws IOException {
        String python = python();
        Process probe = new ProcessBuilder(python, "-c", "import torch, numpy")
                .redirectErrorStream(true).start();
        String probeOutput = new String(probe.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        try {
            if (!probe.waitFor(60, TimeUnit.SECONDS) || probe.exitValue() != 0) {
                throw new IOException(python + " cannot import torch and numpy: " + lastLine(probeOutput));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while probing " + python, e);
        }
        Path script = Files.createTempFile("derf4j-torch-reference", ".py");
        script.toFile().deleteOnExit();
        try (InputStream in = TorchReference.class.getResourceAsStream("/torch_reference.py")) {
            if (in == null) {
                throw new IOException("torch_reference.py is not on the test classpath");
            }
            Files.copy(in, script, StandardCopyOption.REPLACE_EXISTING);
        }
        Process p = new ProcessBuilder(python, script.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        TorchReference ref = new TorchReference(p);
        Runtime.getRuntime().addShutdownHook(new Thread(p::destroy));
        return ref;
    }

    private static String lastLine(String s) {
        int i = s.lastIndexOf('\n');
        return i < 0 ? s : s.substring(i + 1);
    }

    private synchronized Result send(Call call) {
        try {
            StringBuilder json = new StringBuilder();
            json.append("{\"op\":").append(quote(call.op)).append(",\"params\":{");
            String sep = "";
            for (Map.Entry<String, Object> e : call.params.entrySet()) {
                json.append(sep).append(quote(e.getKey())).append(':').append(jsonValue(e.getValue()));
                sep = ",";
            }
            json.append("},\"inputs\":").append(specs(call.inputs, true));
            json.append(",\"douts\":").append(specs(call.douts, false));
            json.append(",\"wrt\":[");
            sep = "";
            for (String w : call.wrt) {
                json.append(sep).append(quote(w));
                sep = ",";
            }
            json.append("],\"fd\":").append(call.finiteDifferences).append("}\n");
            toPython.write(json.toString().getBytes(StandardCharsets.UTF_8));
            for (HostTensor t : call.inputs) {
                writeValues(t);
            }
            for (HostTensor t : call.douts) {
                writeValues(t);
            }
            toPython.flush();
            return readResult(call.op);
        } catch (IOException e) {
            throw new IllegalStateException("PyTorch reference process failed on '" + call.op + "' (alive: "
                    + process.isAlive() + ")", e);
        }
    }

    private Result readResult(String op) throws IOException {
        String header = readLine();
        if (header.startsWith("{\"error\"")) {
            throw new IllegalStateException("PyTorch reference failed on '" + op + "': " + header);
        }
        Map<String, double[]> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, Integer> spec : parseSpecs(header).entrySet()) {
            byte[] raw = new byte[spec.getValue() * 8];
            fromPython.readFully(raw);
            double[] values = new double[spec.getValue()];
            ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asDoubleBuffer().get(values);
            tensors.put(spec.getKey(), values);
        }
        return new Result(tensors);
    }

    private String readLine() throws IOException {
        StringBuilder sb = new StringBuilder();
        int c;
        while ((c = fromPython.read()) != '\n') {
            if (c < 0) {
                throw new IOException("the PyTorch reference process closed its output");
            }
            sb.append((char) c);
        }
        return sb.toString();
    }

    /** Parses {@code {"tensors": [{"name": "...", "shape": [..]}, ...]}} into element counts by name. */
    private static Map<String, Integer> parseSpecs(String header) {
        Map<String, Integer> specs = new LinkedHashMap<>();
        int i = 0;
        while ((i = header.indexOf("\"name\"", i)) >= 0) {
            int q1 = header.indexOf('"', header.indexOf(':', i) + 1);
            int q2 = header.indexOf('"', q1 + 1);
            String name = header.substring(q1 + 1, q2);
            int s1 = header.indexOf('[', header.indexOf("\"shape\"", q2));
            int s2 = header.indexOf(']', s1);
            int count = 1;
            for (String d : header.substring(s1 + 1, s2).split(",")) {
                if (!d.isBlank()) {
                    count *= Integer.parseInt(d.trim());
                }
            }
            specs.put(name, count);
            i = s2;
        }
        return specs;
    }

    private void writeValues(HostTensor t) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(t.size() * 4).order(ByteOrder.LITTLE_ENDIAN);
        if (t.isInt()) {
            buf.asIntBuffer().put(t.ints());
        } else {
            buf.asFloatBuffer().put(t.floats());
        }
        toPython.write(buf.array());
    }

    private static String specs(List<HostTensor> tensors, boolean withDtype) {
        StringBuilder sb = new StringBuilder("[");
        String sep = "";
        for (HostTensor t : tensors) {
            sb.append(sep).append("{\"name\":").append(quote(t.name()));
            if (withDtype) {
                sb.append(",\"dtype\":").append(t.isInt() ? "\"i32\"" : "\"f32\"");
            }
            sb.append(",\"shape\":").append(java.util.Arrays.toString(t.shape())).append('}');
            sep = ",";
        }
        return sb.append(']').toString();
    }

    private static String jsonValue(Object v) {
        if (v instanceof String s) {
            return quote(s);
        }
        if (v instanceof Float f) {
            return Double.toString(f.doubleValue());
        }
        return String.valueOf(v);
    }

    private static String quote(String s) {
        return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
    }
}
