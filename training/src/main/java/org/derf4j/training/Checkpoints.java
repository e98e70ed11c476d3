package org.derf4j.training;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.derf4j.transformer.Safetensors;

/**
 * Checkpoints of a run, under {@code <run>/checkpoints/}:
 * <pre>
 *   step-00000500/model.safetensors      the weights (nanoGPT names, loadable in PyTorch)
 *   step-00000500/optimizer.safetensors  AdamW's moments (exp_avg.*, exp_avg_sq.*)
 *   step-00000500/state.json             configs, step, RNG state, tokenizer, and each file's SHA-256
 *   latest                               the name of the newest complete checkpoint
 * </pre>
 * Writing is atomic: everything goes into a temporary directory, is fsynced, and is renamed into place,
 * and only then does {@code latest} move (write, fsync, rename). A kill at any moment leaves the previous
 * checkpoint and {@code latest} intact. Reading verifies the format, sizes and checksums before any tensor is
 * used.
 */
public final class Checkpoints {
    private Checkpoints() {
    }

    public static final String FORMAT = "derf4j-checkpoint/1";
    static final String MODEL_FILE = "model.safetensors";
    static final String OPTIMIZER_FILE = "optimizer.safetensors";
    static final String STATE_FILE = "state.json";
    private static final String LATEST = "latest";
    /** Complete checkpoints kept on disk; older ones are deleted after a successful save. */
    private static final int KEEP = 3;

    /** A checkpoint read and verified from disk. */
    public record Loaded(Path dir, JsonObject state, Map<String, Safetensors.Entry> model,
                         Map<String, Safetensors.Entry> optimizer) {
    }

    /** Writes a checkpoint for {@code step} atomically and points {@code latest} at it; returns its directory. */
    public static Path save(Path runDir, long step, JsonObject state, List<Safetensors.Entry> model,
                            List<Safetensors.Entry> optimizer) throws IOException {
        Path root = runDir.resolve("checkpoints");
        Files.createDirectories(root);
        String name = String.format("step-%08d", step);
        Path tmp = root.resolve(name + ".tmp");
        deleteTree(tmp);
        Files.createDirectories(tmp);
        Safetensors.write(tmp.resolve(MODEL_FILE), model, Map.of("format", "pt", "step", Long.toString(step)));
        Safetensors.write(tmp.resolve(OPTIMIZER_FILE), optimizer, Map.of("format", "pt"));
        JsonObject files = new JsonObject();
        for (String f : List.of(MODEL_FILE, OPTIMIZER_FILE)) {
            JsonObject info = new JsonObject();
            info.addProperty("bytes", Files.size(tmp.resolve(f)));
            info.addProperty("sha256", sha256(tmp.resolve(f)));
            files.add(f, info);
        }
        JsonObject full = state.deepCopy();
        full.addProperty("format", FORMAT);
        full.addProperty("step", step);
        full.add("files", files);
        writeSynced(tmp.resolve(STATE_FILE), new GsonBuilder().setPrettyPrinting().create().toJson(full));
        fsyncDirectory(tmp);
        Path dir = root.resolve(name);
        deleteTree(dir); // an unreferenced copy of this very step, left by a run killed before it moved 'latest'
        move(tmp, dir);
        fsyncDirectory(root);
        Path latestTmp = root.resolve(LATEST + ".tmp");
        writeSynced(latestTmp, name + "\n");
        move(latestTmp, root.resolve(LATEST));
        fsyncDirectory(root);
        prune(root, dir);
        return dir;
    }

    /** The checkpoint {@code latest} names in a run directory. */
    public static Loaded loadLatest(Path runDir) throws IOException {
        Path root = runDir.resolve("checkpoints");
        Path latest = root.resolve(LATEST);
        String name;
        try {
            name = Files.readString(latest, StandardCharsets.UTF_8).trim();
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("no checkpoint in '" + runDir + "' (" + latest + " does not exist)");
        }
        if (!name.matches("step-\\d{8}")) {
            throw new IllegalArgumentException(latest + " is corrupt: it names '" + name + "'");
        }
        return load(root.resolve(name));
    }

    /** A checkpoint directory, or a run directory (then its latest checkpoint). */
    public static Loaded loadAny(Path path) throws IOException {
        if (Files.isRegularFile(path.resolve(STATE_FILE))) {
            return load(path);
        }
        if (Files.isDirectory(path.resolve("checkpoints"))) {
            return loadLatest(path);
        }
        throw new IllegalArgumentException("'" + path + "' is neither a checkpoint directory (with " + STATE_FILE
                + ") nor a run directory (with checkpoints/)");
    }

    /** Reads one checkpoint directory, verifying format, file sizes and SHA-256 checksums first. */
    public static Loaded load(Path dir) throws IOException {
        String where = "checkpoint '" + dir + "'";
        JsonObject state;
        try {
            state = JsonParser.parseString(Files.readString(dir.resolve(STATE_FILE), StandardCharsets.UTF_8))
                    .getAsJsonObject();
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(where + " has no " + STATE_FILE);
        } catch (JsonParseException | IllegalStateException e) {
            throw new IllegalArgumentException(where + ": " + STATE_FILE + " is corrupt (" + e.getMessage() + ")");
        }
        if (!state.has("format") || !FORMAT.equals(state.get("format").getAsString())) {
            throw new IllegalArgumentException(where + ": unknown format " + state.get("format") + ", expected "
                    + FORMAT);
        }
        JsonObject files = state.getAsJsonObject("files");
        for (String f : List.of(MODEL_FILE, OPTIMIZER_FILE)) {
            Path file = dir.resolve(f);
            if (!Files.isRegularFile(file)) {
                throw new IllegalArgumentException(where + " is missing " + f);
            }
            JsonObject info = files == null ? null : files.getAsJsonObject(f);
            if (info == null) {
                throw new IllegalArgumentException(where + ": " + STATE_FILE + " lists no checksum for " + f);
            }
            long size = Files.size(file);
            if (size != info.get("bytes").getAsLong()) {
                throw new IllegalArgumentException(where + ": " + f + " has " + size + " bytes, expected "
                        + info.get("bytes").getAsLong() + " (truncated?)");
            }
            String sum = sha256(file);
            if (!sum.equals(info.get("sha256").getAsString())) {
                throw new IllegalArgumentException(where + ": " + f + " is corrupt (SHA-256 " + sum + ", expected "
                        + info.get("sha256").getAsString() + ")");
            }
        }
        return new Loaded(dir, state, Safetensors.read(dir.resolve(MODEL_FILE)),
                Safetensors.read(dir.resolve(OPTIMIZER_FILE)));
    }

    static String sha256(Path file) throws IOException {
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), MessageDigest.getInstance("SHA-256"))) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
            return HexFormat.of().formatHex(((DigestInputStream) in).getMessageDigest().digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
    }

    private static void writeSynced(Path file, String text) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ch.write(java.nio.ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)));
            ch.force(true);
        }
    }

    /** Makes a rename durable; some file systems cannot open directories, and there it is a no-op. */
    private static void fsyncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException ignored) {
            // Not supported here (e.g. some platforms); the rename itself is still atomic.
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("cannot rename atomically on this file system: " + from + " → " + to, e);
        }
    }

    private static void prune(Path root, Path keep) throws IOException {
        List<Path> complete;
        try (Stream<Path> s = Files.list(root)) {
            complete = s.filter(p -> p.getFileName().toString().matches("step-\\d{8}"))
                    .sorted(Comparator.comparing(Path::getFileName).reversed()).toList();
        }
        for (int i = KEEP; i < complete.size(); i++) {
            if (!complete.get(i).equals(keep)) {
                deleteTree(complete.get(i));
            }
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
