package org.derf4j.kernels.tornadovm;

import uk.ac.manchester.tornado.api.WorkerGrid;
import uk.ac.manchester.tornado.api.WorkerGrid1D;
import uk.ac.manchester.tornado.api.WorkerGrid2D;

/**
 * Worker grids sized for each kind of kernel. OpenCL 1.2 (PoCL) needs the global size to be a multiple of
 * the local size, so global sizes are rounded up and every kernel checks its index against the real size.
 */
final class Grids {
    private Grids() {
    }

    /**
     * Work-items per group of the 1D kernels; also the size of their local-memory reduction trees, which
     * is why it is a compile-time constant the kernels share.
     */
    static final int GROUP = 256;

    /** One work-item per element of {@code [0, n)}. */
    static WorkerGrid elements(int n) {
        return groups(ceilDiv(n, GROUP), GROUP);
    }

    /** {@code groups} work-groups of {@code local} work-items. */
    static WorkerGrid groups(int groups, int local) {
        WorkerGrid1D grid = new WorkerGrid1D(groups * local);
        grid.setLocalWork(local, 1, 1);
        return grid;
    }

    /** One work-group of {@link #GROUP} work-items: the second pass of a reduction. */
    static WorkerGrid oneGroup() {
        return groups(1, GROUP);
    }

    /** A single work-item. */
    static WorkerGrid single() {
        return groups(1, 1);
    }

    /**
     * Work-groups of {@code side}² work-items, one per {@code block}×{@code block} block of a {@code rows}×{@code cols}
     * output (x: column, y: row).
     */
    static WorkerGrid blocks(int rows, int cols, int block, int side) {
        WorkerGrid2D grid = new WorkerGrid2D(ceilDiv(cols, block) * side, ceilDiv(rows, block) * side);
        grid.setLocalWork(side, side, 1);
        return grid;
    }

    static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }
}
