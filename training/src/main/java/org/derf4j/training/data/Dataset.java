package org.derf4j.training.data;

/**
 * Where batches come from. Training batches are drawn at random with the trainer's {@link Rng} (so that
 * a resumed run draws the same ones); evaluation batches are fixed, so every evaluation sees the same data.
 * A batch is {@code tokens[B·T]} and {@code targets[B·T]}, row-major; a target of −1 is ignored.
 */
public interface Dataset {

    enum Split {
        TRAIN,
        VAL
    }

    Tokenizer tokenizer();

    /** The sequence length T of every batch. */
    int seqLen();

    /** Draws a random training batch. */
    void trainBatch(Rng rng, int batch, int[] tokens, int[] targets);

    /** How many fixed evaluation batches of size {@code batch} the split has. */
    int evalBatches(Split split, int batch);

    /** Fills evaluation batch {@code index}; rows past the end of the split get targets of −1. */
    void evalBatch(Split split, int index, int batch, int[] tokens, int[] targets);

    /** One line for logs, e.g. "tinyshakespeare.txt: 1,003,854 train / 111,540 val characters". */
    String describe();
}
