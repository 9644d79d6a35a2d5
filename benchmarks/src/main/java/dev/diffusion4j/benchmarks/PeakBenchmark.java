package dev.diffusion4j.benchmarks;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.cpu.FmaPeak;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The FP32 peak: {@link FmaPeak#CHAINS} independent FMA chains per thread, each thread its own loop.
 * Every other benchmark is reported as a fraction of this one at the same thread count.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class PeakBenchmark {
    /** JMH makes the state. */
    public PeakBenchmark() {
    }

    /** FMA steps per thread and invocation (about 2 ms on a 200 GFLOP/s core). */
    static final int ITERATIONS = 1 << 20;

    /** Threads, each running its own chains. */
    @Param({"1", "2"})
    public int threads;

    private ComputePool pool;
    private float[] results;

    /** Makes the pool. */
    @Setup
    public void setup() {
        pool = new ComputePool(threads);
        results = new float[threads];
    }

    /** Stops the pool. */
    @TearDown
    public void tearDown() {
        pool.close();
    }

    /** Every thread of the pool runs its own chains. */
    @Benchmark
    public float fma() {
        pool.parallelFor(threads, 1, (from, to) -> {
            for (int t = from; t < to; t++) {
                results[t] = FmaPeak.chains(ITERATIONS);
            }
        });
        float s = 0;
        for (float r : results) {
            s += r;
        }
        return s;
    }

    /** FLOPs of one invocation of {@code method} with the given JMH parameters. */
    public static double flops(String method, Map<String, String> params) {
        return FmaPeak.flopsPerCall(ITERATIONS) * Integer.parseInt(params.getOrDefault("threads", "1"));
    }
}
