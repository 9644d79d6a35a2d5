package dev.diffusion4j.benchmarks;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.Conv2d;
import java.lang.foreign.Arena;
import java.util.Map;
import java.util.Random;
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
 * The U-Net's 3×3 convolutions (batch 2, as a guided step runs them) with the weight stored as F16 or Q8_0 (both
 * off-heap, converted while the GEMM packs A), at the four levels' sizes.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class QuantizedConvBenchmark {
    /** JMH makes the state. */
    public QuantizedConvBenchmark() {
    }

    /** channels x H x W. */
    @Param({"320x64x64", "640x32x32", "1280x16x16", "1280x8x8"})
    public String config;

    /** How the weight is stored. */
    @Param({"F16", "Q8_0"})
    public String dtype;

    /** Threads of the {@link ComputePool}. */
    @Param({"2"})
    public int threads;

    private ComputePool pool;
    private Arena arena;
    private Tensor x;
    private Tensor w;
    private Tensor bias;

    /** Random input, weights in their dtype, bias and the pool. */
    @Setup
    public void setup() {
        int[] d = GemmBenchmark.dims(config);
        int c = d[0];
        pool = new ComputePool(threads);
        arena = Arena.ofShared();
        Random rnd = new Random(2);
        x = Tensor.of(GemmBenchmark.random(rnd, 2 * c * d[1] * d[2]), 2, c, d[1], d[2]);
        w = QuantizedWeightsBenchmark.weight(GemmBenchmark.random(rnd, c * c * 9), c, c * 9, DType.valueOf(dtype), arena)
                .reshape(c, c, 3, 3);
        bias = Tensor.of(GemmBenchmark.random(rnd, c), c);
    }

    /** Stops the pool, frees the weight. */
    @TearDown
    public void tearDown() {
        pool.close();
        arena.close();
    }

    /** One 3×3 convolution (stride 1, padding 1, with bias). */
    @Benchmark
    public float[] conv3x3() {
        return Conv2d.conv2d(pool, x, w, bias, 1, 1, 1, 1, 1).array();
    }

    /** FLOPs of one invocation: {@code 2·2·Cout·Cin·9·H·W}. */
    public static double flops(String method, Map<String, String> params) {
        int[] d = GemmBenchmark.dims(params.get("config"));
        return 4.0 * d[0] * d[0] * 9 * d[1] * d[2];
    }
}
