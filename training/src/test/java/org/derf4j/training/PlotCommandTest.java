package org.derf4j.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ./derf plot: fields of metrics.jsonl by pattern, and its errors. */
class PlotCommandTest {

    @TempDir
    Path dir;

    private static final String ROWS = """
            {"step":1,"split":"train","loss":4.1,"grad_norm":1.0,"lr":1e-4,"tokens_per_s":10,"rms_out.h.0.ln_1":0.2,"rms_out.ln_f":0.3}
            {"step":2,"split":"train","loss":3.9,"grad_norm":1.0,"lr":2e-4,"tokens_per_s":10}
            {"step":2,"split":"val","loss":3.95,"accuracy":0.1}
            {"step":3,"split":"train","loss":3.5,"grad_norm":1.0,"lr":3e-4,"tokens_per_s":10,"rms_out.h.0.ln_1":0.4,"rms_out.ln_f":0.5}
            """;

    private record Result(int code, String err) {
    }

    private static Result run(String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream savedErr = System.err;
        PrintStream savedOut = System.out;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        System.setOut(TrainerTest.quiet());
        try {
            return new Result(Main.run(args), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(savedErr);
            System.setOut(savedOut);
        }
    }

    @Test
    void plotsStatisticsAndEvaluationsOfSeveralRuns() throws Exception {
        for (String run : new String[] {"a", "b"}) {
            Files.createDirectories(dir.resolve(run));
            Files.writeString(dir.resolve(run).resolve("metrics.jsonl"), ROWS);
        }
        Path png = dir.resolve("p.png");
        Result r = run("plot", dir.resolve("a").toString(), dir.resolve("b").toString(), "--fields",
                "loss,rms_out.*,val.accuracy", "--labels", "derf,layernorm", "--log-y", "--out", png.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.size(png) > 1000);
    }

    @Test
    void badInputIsNamed() throws Exception {
        Files.createDirectories(dir.resolve("a"));
        Files.writeString(dir.resolve("a").resolve("metrics.jsonl"), ROWS);
        String a = dir.resolve("a").toString();
        Result r = run("plot", a, "--fields", "attn_entropy.*", "--out", dir.resolve("x.png").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("no run has a field matching 'attn_entropy.*'"), r.err());
        r = run("plot", a, "--fields", "loss", "--labels", "x,y", "--out", dir.resolve("x.png").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--labels names 2 runs, but 1 were given"), r.err());
        r = run("plot", dir.resolve("none").toString(), "--fields", "loss", "--out", dir.resolve("x.png").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("holds no metrics.jsonl"), r.err());
    }
}
