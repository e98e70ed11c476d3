package org.derf4j.kernels.cpu;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;

/** Bytes allocated so far by a fixed set of threads, read without allocating. */
final class AllocationMeter {
    private final com.sun.management.ThreadMXBean bean =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private final long[] ids;
    private final String[] names;

    /** The calling thread and every live cpu team worker ("derf4j-cpu-*"). */
    AllocationMeter() {
        List<Thread> threads = new ArrayList<>();
        threads.add(Thread.currentThread());
        Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("derf4j-cpu-"))
                .forEach(threads::add);
        ids = threads.stream().mapToLong(Thread::threadId).toArray();
        names = threads.stream().map(Thread::getName).toArray(String[]::new);
    }

    int threads() {
        return ids.length;
    }

    void read(long[] into) {
        for (int i = 0; i < ids.length; i++) {
            into[i] = bean.getThreadAllocatedBytes(ids[i]);
        }
    }

    static long total(long[] before, long[] after) {
        long sum = 0;
        for (int i = 0; i < before.length; i++) {
            sum += after[i] - before[i];
        }
        return sum;
    }

    String describe(long[] before, long[] after) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < ids.length; i++) {
            sb.append(String.format(" %s=%d", names[i], after[i] - before[i]));
        }
        return sb.toString();
    }
}
