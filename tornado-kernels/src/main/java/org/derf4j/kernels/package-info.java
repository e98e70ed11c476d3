/**
 * The backend interface: device tensors, ops as data, and graphs of ops that a backend compiles once and
 * replays every training step.
 *
 * <h2>Key to the sizes</h2>
 * Used in every shape comment of the ops, as in llm.c:
 * <pre>
 *   B   batch size                  T   sequence length (≤ maxT, the context)
 *   C   channels (model width)      V   vocabulary size
 *   NH  attention heads             HS  head size, C / NH
 *   N   rows: every leading dimension flattened, B·T for activations
 *   IC, OC  input and output features of a Linear layer
 * </pre>
 *
 * <h2>Conventions</h2>
 * <ul>
 *   <li>All tensors are dense and row-major; float32 except token ids and targets (int32).</li>
 *   <li>Op arguments are outputs first, then inputs, then sizes.</li>
 *   <li>Backward ops add into their gradients; {@link org.derf4j.kernels.Zero} clears them.</li>
 *   <li>Every reduction is deterministic: the same inputs give the same bits on a given backend.</li>
 * </ul>
 */
package org.derf4j.kernels;
