package org.derf4j.training.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Any UTF-8 text file, one token per character, split into the first 90% for training and the last 10%
 * for validation (as nanoGPT's shakespeare_char does). Training draws random windows of T+1 characters;
 * evaluation uses evenly spaced windows.
 */
public final class TextDataset implements Dataset {

    /** The fraction of the text used for training. */
    public static final double TRAIN_FRACTION = 0.9;

    private final String source;
    private final CharTokenizer tokenizer;
    private final int[] train;
    private final int[] val;
    private final int seqLen;
    private final int evalWindows;

    private TextDataset(String source, CharTokenizer tokenizer, int[] train, int[] val, int seqLen, int evalWindows) {
        this.source = source;
        this.tokenizer = tokenizer;
        this.train = train;
        this.val = val;
        this.seqLen = seqLen;
        this.evalWindows = evalWindows;
    }

    /**
     * Reads and tokenizes a text file; {@code evalWindows} windows per split are used for evaluation.
     * With a {@code tokenizer} (from a checkpoint being resumed) the text is encoded with it; otherwise the
     * vocabulary is the text's own characters.
     */
    public static TextDataset load(Path file, int seqLen, int evalWindows, CharTokenizer tokenizer) throws IOException {
        String text = read(file);
        CharTokenizer tok = tokenizer != null ? tokenizer : CharTokenizer.of(text);
        int[] ids;
        try {
            ids = tok.encode(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("data file '" + file + "': " + e.getMessage()
                    + " (the text differs from the one the checkpoint was trained on)", e);
        }
        int split = (int) (ids.length * TRAIN_FRACTION);
        int[] train = Arrays.copyOfRange(ids, 0, split);
        int[] val = Arrays.copyOfRange(ids, split, ids.length);
        int needed = seqLen + 1;
        if (train.length < needed || val.length < needed) {
            throw new IllegalArgumentException("data file '" + file + "' has " + ids.length
                    + " characters: too short for a context of " + seqLen + ". Both the training part ("
                    + train.length + ") and the validation part (" + val.length + ", the last "
                    + Math.round((1 - TRAIN_FRACTION) * 100) + "%) need at least T+1 = " + needed
                    + " characters; use a longer text or a smaller --context.");
        }
        return new TextDataset(file.getFileName().toString(), tok, train, val, seqLen, evalWindows);
    }

    private static String read(Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("data file '" + file + "' does not exist");
        }
        if (bytes.length == 0) {
            throw new IllegalArgumentException("data file '" + file + "' is empty");
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("data file '" + file + "' is not UTF-8 text (" + e.getMessage() + ")");
        }
    }

    @Override
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public int seqLen() {
        return seqLen;
    }

    @Override
    public void trainBatch(Rng rng, int batch, int[] tokens, int[] targets) {
        for (int b = 0; b < batch; b++) {
            window(train, rng.nextInt(train.length - seqLen), b, tokens, targets);
        }
    }

    @Override
    public int evalBatches(Split split, int batch) {
        return (windows(split) + batch - 1) / batch;
    }

    @Override
    public void evalBatch(Split split, int index, int batch, int[] tokens, int[] targets) {
        int[] data = split == Split.TRAIN ? train : val;
        int count = windows(split);
        int last = data.length - seqLen - 1; // the largest start with a full window of targets
        for (int b = 0; b < batch; b++) {
            int w = index * batch + b;
            if (w < count) {
                int start = count == 1 ? 0 : (int) ((long) w * last / (count - 1));
                window(data, start, b, tokens, targets);
            } else {
                Arrays.fill(tokens, b * seqLen, (b + 1) * seqLen, 0);
                Arrays.fill(targets, b * seqLen, (b + 1) * seqLen, -1);
            }
        }
    }

    private int windows(Split split) {
        int[] data = split == Split.TRAIN ? train : val;
        return Math.min(evalWindows, data.length - seqLen);
    }

    private void window(int[] data, int start, int row, int[] tokens, int[] targets) {
        System.arraycopy(data, start, tokens, row * seqLen, seqLen);
        System.arraycopy(data, start + 1, targets, row * seqLen, seqLen);
    }

    @Override
    public String describe() {
        return String.format("%s: %,d train / %,d val characters, vocabulary %d", source, train.length, val.length,
                tokenizer.vocabSize());
    }
}
