package dev.diffusion4j.examples.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** {@code sd selfcheck}: times the main kernels and prints each as a fraction of the measured FMA peak. */
@Command(name = "selfcheck", mixinStandardHelpOptions = true,
        description = "Time the CPU kernels (GEMM, 3x3 convolution, attention) against the measured FMA peak.")
final class SelfCheckCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new UnsupportedOperationException("not implemented yet");
    }
}
