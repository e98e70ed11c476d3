package org.derf4j.transformer;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Reads and writes the safetensors format (huggingface/safetensors): an 8-byte little-endian header
 * length, a JSON header mapping each name to its dtype, shape and byte range, then the raw
 * little-endian data. Only F32 tensors, which is all derf4j stores. Files load in PyTorch with
 * {@code safetensors.torch.load_file}.
 */
public final class Safetensors {
    private Safetensors() {
    }

    /** A named float32 tensor on the host. */
    public record Entry(String name, int[] shape, float[] values) {
        public Entry {
            long n = 1;
            for (int d : shape) {
                n *= d;
            }
            if (n != values.length) {
                throw new IllegalArgumentException("safetensors entry '" + name + "': shape " + Arrays.toString(shape)
                        + " holds " + n + " values, got " + values.length);
            }
        }
    }

    /** The largest header we accept: real headers are kilobytes; a huge one means a corrupt file. */
    private static final long MAX_HEADER = 100L << 20;

    /**
     * Writes the entries, in order, and fsyncs the file. The metadata is written in key order, so the same
     * weights give the same bytes whatever map the caller passes.
     */
    public static void write(Path file, List<Entry> entries, Map<String, String> metadata) throws IOException {
        JsonObject header = new JsonObject();
        if (!metadata.isEmpty()) {
            JsonObject meta = new JsonObject();
            new TreeMap<>(metadata).forEach(meta::addProperty);
            header.add("__metadata__", meta);
        }
        long offset = 0;
        for (Entry e : entries) {
            JsonObject t = new JsonObject();
            t.addProperty("dtype", "F32");
            JsonArray shape = new JsonArray();
            for (int d : e.shape()) {
                shape.add(d);
            }
            t.add("shape", shape);
            JsonArray range = new JsonArray();
            range.add(offset);
            range.add(offset + 4L * e.values().length);
            t.add("data_offsets", range);
            if (header.has(e.name())) {
                throw new IllegalArgumentException("safetensors: duplicate tensor name '" + e.name() + "'");
            }
            header.add(e.name(), t);
            offset += 4L * e.values().length;
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8; // the format allows trailing spaces; alignment helps mmap readers
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING);
             OutputStream out = Channels.newOutputStream(ch)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
            out.write(len.array());
            out.write(json);
            out.write(" ".repeat(padded - json.length).getBytes(StandardCharsets.US_ASCII));
            ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            for (Entry e : entries) {
                for (float v : e.values()) {
                    if (!buf.hasRemaining()) {
                        out.write(buf.array(), 0, buf.position());
                        buf.clear();
                    }
                    buf.putFloat(v);
                }
            }
            out.write(buf.array(), 0, buf.position());
            out.flush();
            ch.force(true);
        }
    }

    /** Reads every tensor, checking the header against the file's size; errors name the file and tensor. */
    public static Map<String, Entry> read(Path file) throws IOException {
        long size = Files.size(file);
        if (size < 8) {
            throw new IOException(file + ": not a safetensors file (" + size + " bytes, shorter than its header length)");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLen = lenBuf.flip().getLong();
            if (headerLen <= 0 || headerLen > MAX_HEADER || 8 + headerLen > size) {
                throw new IOException(file + ": corrupt safetensors header length " + headerLen + " for a file of "
                        + size + " bytes");
            }
            ByteBuffer headerBuf = ByteBuffer.allocate((int) headerLen);
            readFully(ch, headerBuf, 8);
            JsonObject header;
            try {
                header = JsonParser.parseString(new String(headerBuf.array(), StandardCharsets.UTF_8).trim())
                        .getAsJsonObject();
            } catch (JsonParseException | IllegalStateException e) {
                throw new IOException(file + ": safetensors header is not valid JSON: " + e.getMessage(), e);
            }
            long dataStart = 8 + headerLen;
            long dataSize = size - dataStart;
            Map<String, Entry> out = new LinkedHashMap<>();
            for (Map.Entry<String, JsonElement> kv : header.entrySet()) {
                if (kv.getKey().equals("__metadata__")) {
                    continue;
                }
                out.put(kv.getKey(), readEntry(file, ch, kv.getKey(), kv.getValue().getAsJsonObject(), dataStart,
                        dataSize));
            }
            return out;
        }
    }

    private static Entry readEntry(Path file, FileChannel ch, String name, JsonObject spec, long dataStart,
                                   long dataSize) throws IOException {
        String where = file + ": tensor '" + name + "'";
        if (!spec.has("dtype") || !"F32".equals(spec.get("dtype").getAsString())) {
            throw new IOException(where + " has dtype " + spec.get("dtype") + "; derf4j reads F32 only");
        }
        var shapeJson = spec.getAsJsonArray("shape");
        int[] shape = new int[shapeJson.size()];
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeJson.get(i).getAsInt();
            if (shape[i] < 0) {
                throw new IOException(where + " has a negative dimension in shape " + shapeJson);
            }
            count *= shape[i];
        }
        var range = spec.getAsJsonArray("data_offsets");
        long begin = range.get(0).getAsLong();
        long end = range.get(1).getAsLong();
        if (begin < 0 || end < begin || end > dataSize || end - begin != 4 * count) {
            throw new IOException(where + ": byte range [" + begin + ", " + end + ") does not fit shape "
                    + Arrays.toString(shape) + " in " + dataSize + " data bytes (truncated or corrupt file?)");
        }
        if (count > Integer.MAX_VALUE - 8) {
            throw new IOException(where + " is too large for one buffer: " + count + " values");
        }
        ByteBuffer data = ByteBuffer.allocate((int) (end - begin)).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, data, dataStart + begin);
        float[] values = new float[(int) count];
        data.flip().asFloatBuffer().get(values);
        return new Entry(name, shape, values);
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) {
                throw new IOException("unexpected end of file at byte " + pos);
            }
            pos += n;
        }
    }
}
