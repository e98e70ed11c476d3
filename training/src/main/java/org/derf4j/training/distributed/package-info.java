/**
 * Synchronous data-parallel training over MPI: {@code mpirun -np N ./derf train …} trains one model on N
 * ranks, each a process with its own backend and device.
 *
 * <h2>A step on N ranks</h2>
 * <pre>
 *   each rank    its share of the global batch (N × batch sequences, one data stream)    RankShard
 *                forward and backward, loss weighted by 1/(accumulation · N)            Trainer
 *   all ranks    one all-reduce (sum) of every gradient and the loss, in one flat
 *                buffer, through the host                                                GradientAllReduce
 *   each rank    gradient clipping and AdamW: the same step everywhere, the same bits    Trainer
 *   rank 0       progress, metrics.jsonl, evaluation, checkpoints                         Trainer, TrainCommand
 * </pre>
 * At the start and the end of a run, {@link org.derf4j.training.distributed.RankCheck} verifies that every
 * rank holds what rank 0 holds (config, data, step, weights, optimizer state).
 *
 * <h2>The pieces</h2>
 * <ul>
 *   <li>{@link org.derf4j.training.distributed.Collective}: what the trainer needs from the ranks; a single
 *       process is a job of one, which loads no MPI.</li>
 *   <li>{@link org.derf4j.training.distributed.World}: the process's collective, MPI's when
 *       {@link org.derf4j.training.distributed.MpiLaunch} sees a launcher, and the exit that finalizes MPI
 *       or aborts the job.</li>
 *   <li>{@code Mpi}: the MPI library through {@code java.lang.foreign},
 *       the only class that knows Open MPI's ABI from MPICH's.</li>
 * </ul>
 */
package org.derf4j.training.distributed;
