package org.derf4j.training.distributed;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.Supplier;
import org.derf4j.transformer.Safetensors;

/**
 * Checks that every rank of a job holds what rank 0 holds: at the start, the config, data, step, data
 * stream and weights, so that ranks started with different arguments or files stop before the first
 * all-reduce instead of averaging gradients of different models; at the end, the weights and optimizer
 * state, which data-parallel training must keep identical, bit for bit.
 * <pre>
 *   broadcast   rank 0's facts (a JSON object: length, then UTF-8 bytes)
 *   compare     on each rank, with its own, field by field
 *   allReduce   the number of ranks that differ, so that every rank knows the verdict
 * </pre>
 */
public final class RankCheck {
    private RankCheck() {
    }

    /**
     * Returns on every rank when every rank's {@code facts} equal rank 0's, and throws on every rank
     * otherwise; a rank that differs names each field that does, with rank 0's value and its own.
     * {@code when} says where the run is, for the message ("at the start"). With one rank there is
     * nothing to compare, and {@code facts} is not asked for.
     */
    public static void requireSame(Collective world, String when, Supplier<JsonObject> facts) {
        if (world.size() == 1) {
            return;
        }
        // Read back from its own text, as rank 0's is: a float then compares as the same digits on both sides.
        JsonObject mine = JsonParser.parseString(facts.get().toString()).getAsJsonObject();
        JsonObject rank0 = broadcast(world, mine);
        List<String> differences = differences(rank0, mine);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment differing = arena.allocate(JAVA_FLOAT);
            differing.set(JAVA_FLOAT, 0, differences.isEmpty() ? 0 : 1);
            world.allReduceSum(differing);
            int count = Math.round(differing.get(JAVA_FLOAT, 0));
            if (count == 0) {
                return;
            }
            String why = differences.isEmpty()
                    ? count + " of " + world.size() + " ranks differ from rank 0 " + when + "; their messages say how"
                    : "rank " + world.rank() + " differs from rank 0 " + when + ": " + String.join("; ", differences);
            throw new IllegalStateException(why + ". Every rank must run with the same arguments, the same data "
                    + "and the same checkpoint");
        }
    }

    /** Rank 0's facts, on every rank. */
    private static JsonObject broadcast(Collective world, JsonObject facts) {
        byte[] mine = facts.toString().getBytes(StandardCharsets.UTF_8);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment length = arena.allocate(JAVA_INT);
            length.set(JAVA_INT, 0, mine.length);
            world.broadcast(length);
            MemorySegment text = arena.allocate(length.get(JAVA_INT, 0));
            if (world.rank() == 0) {
                MemorySegment.copy(MemorySegment.ofArray(mine), 0, text, 0, mine.length);
            }
            world.broadcast(text);
            return JsonParser.parseString(new String(text.toArray(JAVA_BYTE),
                    StandardCharsets.UTF_8)).getAsJsonObject();
        }
    }

    /** "field: X on rank 0, Y here" for each field that differs, and "object.field: …" one level down. */
    private static List<String> differences(JsonObject rank0, JsonObject mine) {
        List<String> out = new ArrayList<>();
        Set<String> keys = new LinkedHashSet<>(rank0.keySet());
        keys.addAll(mine.keySet());
        for (String key : keys) {
            JsonElement a = rank0.get(key);
            JsonElement b = mine.get(key);
            if (a != null && b != null && a.isJsonObject() && b.isJsonObject()) {
                for (String inner : differences(a.getAsJsonObject(), b.getAsJsonObject())) {
                    out.add(key + "." + inner);
                }
            } else if (!Objects.equals(a, b)) {
                out.add(key + ": " + a + " on rank 0, " + b + " here");
            }
        }
        return out;
    }

    /** SHA-256 of the values of {@code entries}, in order: a fingerprint of weights or optimizer state. */
    public static String sha256(List<Safetensors.Entry> entries) {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
        ByteBuffer bytes = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        for (Safetensors.Entry entry : entries) {
            for (float value : entry.values()) {
                if (!bytes.hasRemaining()) {
                    digest.update(bytes.flip());
                    bytes.clear();
                }
                bytes.putFloat(value);
            }
        }
        digest.update(bytes.flip());
        return HexFormat.of().formatHex(digest.digest());
    }
}
