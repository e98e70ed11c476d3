package org.derf4j.training;

import java.io.IOException;
import java.io.UncheckedIOException;
import org.derf4j.kernels.Norm;
import org.derf4j.training.distributed.World;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code ./derf} command line: train, sample, compare, devices. */
@Command(name = "derf", mixinStandardHelpOptions = true, version = "derf4j 0.1.0",
        description = "Train normalization-free Transformers (Derf, DyT) and their LayerNorm/RMSNorm peers.",
        subcommands = {TrainCommand.class, SampleCommand.class, CompareCommand.class, PlotCommand.class,
                DevicesCommand.class})
public final class Main {

    public static void main(String[] args) {
        // Under MPI, leaving finalizes on success and aborts the whole job on an error (see World.leave).
        System.exit(World.leave(run(args)));
    }

    /** Runs the command line; bad input prints one clear line and exits with 2, like other CLI tools. */
    static int run(String... args) {
        CommandLine cli = new CommandLine(new Main());
        // The one place a norm's name is parsed; --norm and --norms then hold the Norm itself.
        cli.registerConverter(Norm.class, id -> {
            try {
                return Norm.parse(id);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        });
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof IllegalArgumentException || e instanceof IllegalStateException
                    || e instanceof UncheckedIOException || e instanceof IOException
                    || e instanceof Trainer.DivergedException) {
                cmd.getErr().println("derf " + cmd.getCommandName() + World.label() + ": " + e.getMessage());
                return e instanceof Trainer.DivergedException ? 3 : 2;
            }
            throw e;
        });
        return cli.execute(args);
    }
}
