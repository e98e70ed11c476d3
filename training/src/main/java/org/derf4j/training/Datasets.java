package org.derf4j.training;

import java.io.IOException;
import java.nio.file.Path;
import org.derf4j.training.data.CharTokenizer;
import org.derf4j.training.data.Dataset;
import org.derf4j.training.data.ModularArithmetic;
import org.derf4j.training.data.Tokenizer;

/** Opens the dataset a config names. */
final class Datasets {
    private Datasets() {
    }

    /** With a checkpoint, text is encoded with the checkpoint's tokenizer, so the token ids do not move. */
    static Dataset open(TrainConfig config, Checkpoints.Loaded checkpoint) throws IOException {
        if (config.data() == null) {
            return new ModularArithmetic(config.modulus(), ModularArithmetic.Operation.parse(config.operation()),
                    config.trainFraction(), config.seed());
        }
        CharTokenizer saved = null;
        if (checkpoint != null) {
            Tokenizer t = Tokenizer.fromJson(checkpoint.state().getAsJsonObject("tokenizer"));
            if (!(t instanceof CharTokenizer c)) {
                throw new IllegalArgumentException("checkpoint " + checkpoint.dir() + " was not trained on text");
            }
            saved = c;
        }
        return org.derf4j.training.data.TextDataset.load(Path.of(config.data()), config.context(),
                config.evalBatches() * config.batch(), saved);
    }
}
