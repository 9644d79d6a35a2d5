package dev.diffusion4j.benchmarks;

/** Runs the JMH benchmarks and prints every result as a fraction of the measured peak. */
public final class BenchMain {
    private BenchMain() {
    }

    /** Entry point of {@code ./bench}. */
    public static void main(String[] args) throws Exception {
        org.openjdk.jmh.Main.main(args);
    }
}
