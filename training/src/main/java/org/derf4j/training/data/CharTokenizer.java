package org.derf4j.training.data;

import com.google.gson.JsonObject;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;

/** One token per distinct Unicode code point of the training text, in code point order. */
public final class CharTokenizer implements Tokenizer {
    private final int[] codePoints;
    private final Map<Integer, Integer> ids = new HashMap<>();

    public CharTokenizer(int[] codePoints) {
        this.codePoints = codePoints.clone();
        for (int i = 0; i < codePoints.length; i++) {
            if (ids.put(codePoints[i], i) != null) {
                throw new IllegalArgumentException("tokenizer: duplicate character U+"
                        + Integer.toHexString(codePoints[i]));
            }
        }
    }

    /** The vocabulary of a text: its distinct code points. */
    public static CharTokenizer of(String text) {
        TreeSet<Integer> set = new TreeSet<>();
        text.codePoints().forEach(set::add);
        return new CharTokenizer(set.stream().mapToInt(Integer::intValue).toArray());
    }

    @Override
    public int vocabSize() {
        return codePoints.length;
    }

    @Override
    public int[] encode(String text) {
        return text.codePoints().map(cp -> {
            Integer id = ids.get(cp);
            if (id == null) {
                throw new IllegalArgumentException("character '" + Character.toString(cp) + "' (U+"
                        + Integer.toHexString(cp).toUpperCase() + ") is not in the model's vocabulary of "
                        + codePoints.length + " characters");
            }
            return id;
        }).toArray();
    }

    @Override
    public String decode(int[] tokens, int from, int to) {
        StringBuilder sb = new StringBuilder();
        for (int i = from; i < to; i++) {
            sb.appendCodePoint(codePoints[tokens[i]]);
        }
        return sb.toString();
    }

    /** The first symbol: a newline in most texts. */
    @Override
    public String defaultPrompt() {
        return Character.toString(codePoints[0]);
    }

    @Override
    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("kind", "char");
        StringBuilder sb = new StringBuilder();
        for (int cp : codePoints) {
            sb.appendCodePoint(cp);
        }
        o.addProperty("chars", sb.toString());
        return o;
    }

    static CharTokenizer fromJson(JsonObject o) {
        return new CharTokenizer(o.get("chars").getAsString().codePoints().toArray());
    }

    @Override
    public String toString() {
        return "characters (" + codePoints.length + ")";
    }
}
