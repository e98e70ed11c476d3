package org.derf4j.training;

import java.util.List;
import java.util.concurrent.Callable;
import org.derf4j.kernels.Backend;
import org.derf4j.kernels.BackendProvider;
import org.derf4j.kernels.Backends;
import picocli.CommandLine.Command;

/** {@code ./derf devices}: every backend built in, and whether it runs here. */
@Command(name = "devices", mixinStandardHelpOptions = true, description = "List the backends and their devices.")
final class DevicesCommand implements Callable<Integer> {

    @Override
    public Integer call() {
        boolean chosen = false;
        for (BackendProvider p : Backends.providers()) {
            String why = p.unavailableReason();
            if (why != null) {
                System.out.printf("  %-14s unavailable: %s%n", p.name(), why);
                continue;
            }
            try (Backend b = p.open()) {
                String mark = !chosen && p.priority() >= 0 ? "*" : " ";
                chosen |= mark.equals("*");
                System.out.printf("%s %-14s %s%n", mark, p.name(), b.device());
                List<String> all = b.devices();
                if (all.size() > 1 || !all.getFirst().equals(b.device())) { // opencl: every platform and device
                    all.forEach(d -> System.out.printf("  %-14s   %s%n", "", d));
                }
            }
        }
        System.out.println("(* is what --backend auto picks)");
        return 0;
    }
}
