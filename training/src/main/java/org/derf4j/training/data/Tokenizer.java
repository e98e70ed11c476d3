package org.derf4j.training.data;

import com.google.gson.JsonObject;

/** Maps text to token ids and back; saved with a checkpoint so that {@code sample} decodes the same way. */
public interface Tokenizer {

    int vocabSize();

    /** Token ids of {@code text}; throws IllegalArgumentException naming a character it cannot encode. */
    int[] encode(String text);

    String decode(int[] tokens, int from, int to);

    /** What {@code sample} starts from when no prompt is given. */
    String defaultPrompt();

    /** The tokenizer as JSON, for the checkpoint. */
    JsonObject toJson();

    /** The tokenizer a checkpoint describes. */
    static Tokenizer fromJson(JsonObject json) {
        String kind = json.has("kind") ? json.get("kind").getAsString() : "";
        return switch (kind) {
            case "char" -> CharTokenizer.fromJson(json);
            case "modular" -> ModularArithmetic.Symbols.fromJson(json);
            default -> throw new IllegalArgumentException("checkpoint: unknown tokenizer kind '" + kind + "'");
        };
    }
}
