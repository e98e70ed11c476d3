package org.derf4j.training.distributed;

import org.derf4j.training.data.Dataset;
import org.derf4j.training.data.Rng;
import org.derf4j.training.data.Tokenizer;

/**
 * A rank's share of the training data. For each micro-batch every rank draws the whole global batch, N·B
 * rows, from the one data stream that the seed fixes, and keeps its own rows r·B .. r·B + B − 1. So N ranks
 * of batch B train on exactly the sequences that one process of batch N·B trains on, in the same order, and
 * the stream's state, which a checkpoint saves, is the same on every rank. The rows a rank draws and drops
 * cost a random offset and a copy each: microseconds, against a step's milliseconds.
 *
 * <p>Evaluation, which rank 0 alone runs, sees the whole data set as before.
 */
public final class RankShard implements Dataset {

    private final Dataset data;
    private final int rank;
    private final int ranks;
    private final int batch;
    private final int[] globalTokens;
    private final int[] globalTargets;

    private RankShard(Dataset data, Collective world, int batch) {
        this.data = data;
        this.rank = world.rank();
        this.ranks = world.size();
        this.batch = batch;
        this.globalTokens = new int[ranks * batch * data.seqLen()];
        this.globalTargets = new int[globalTokens.length];
    }

    /** Rank {@code world.rank()}'s share of {@code data} in micro-batches of {@code batch}; {@code data} itself for one rank. */
    public static Dataset of(Dataset data, Collective world, int batch) {
        return world.size() == 1 ? data : new RankShard(data, world, batch);
    }

    @Override
    public void trainBatch(Rng rng, int batch, int[] tokens, int[] targets) {
        if (batch != this.batch) {
            throw new IllegalArgumentException("this rank's share was made for batches of " + this.batch
                    + " sequences, not " + batch);
        }
        data.trainBatch(rng, ranks * batch, globalTokens, globalTargets);
        System.arraycopy(globalTokens, rank * tokens.length, tokens, 0, tokens.length);
        System.arraycopy(globalTargets, rank * targets.length, targets, 0, targets.length);
    }

    @Override
    public Tokenizer tokenizer() {
        return data.tokenizer();
    }

    @Override
    public int seqLen() {
        return data.seqLen();
    }

    @Override
    public int evalBatches(Split split, int batch) {
        return data.evalBatches(split, batch);
    }

    @Override
    public void evalBatch(Split split, int index, int batch, int[] tokens, int[] targets) {
        data.evalBatch(split, index, batch, tokens, targets);
    }

    @Override
    public String describe() {
        return data.describe();
    }
}
