package dev.diffusion4j.benchmarks;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.Conv2d;
import dev.diffusion4j.tensor.cpu.ConvAlgorithm;
import dev.diffusion4j.tensor.cpu.Winograd;
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
 * 3×3 convolution, stride 1, padding 1, Cin = Cout, batch 1, at the U-Net's resolutions and two of the VAE
 * decoder's: the implicit GEMM ({@code conv3x3}, forced with {@link ConvAlgorithm#DIRECT}) and Winograd F(4,3)
 * ({@code winograd3x3}). Both report <em>effective</em> GFLOP/s, the direct convolution's FLOPs over the time.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class Conv2dBenchmark {
    /** JMH makes the state. */
    public Conv2dBenchmark() {
    }

    /** Channels x H x W. */
    @Param({"320x64x64", "640x32x32", "1280x16x16", "1280x8x8", "512x128x128", "256x256x256"})
    public String config;

    /** Threads of the {@link ComputePool}. */
    @Param({"1", "2"})
    public int threads;

    private ComputePool pool;
    private Tensor x;
    private Tensor w;
    private Tensor bias;

    /** Random input, weights, bias and the pool. */
    @Setup
    public void setup() {
        int[] d = GemmBenchmark.dims(config);
        int c = d[0];
        pool = new ComputePool(threads);
        Random rnd = new Random(2);
        x = Tensor.of(GemmBenchmark.random(rnd, c * d[1] * d[2]), 1, c, d[1], d[2]);
        w = Tensor.of(GemmBenchmark.random(rnd, c * c * 9), c, c, 3, 3);
        bias = Tensor.of(GemmBenchmark.random(rnd, c), c);
    }

    /** Stops the pool. */
    @TearDown
    public void tearDown() {
        pool.close();
    }

    /** One 3×3 convolution (stride 1, padding 1, with bias) as an implicit GEMM. */
    @Benchmark
    public float[] conv3x3() {
        return Conv2d.conv2d(pool, ConvAlgorithm.DIRECT, x, w, bias, 1, 1, 1, 1, 1).array();
    }

    /** The same convolution by Winograd F(4,3) (whatever {@link Winograd#pays} says). */
    @Benchmark
    public float[] winograd3x3() {
        return Winograd.conv3x3(pool, x, w, bias, null, 1, 1, 1, 1).array();
    }

    /** FLOPs of one invocation: {@code 2·Cout·Cin·9·H·W} (the direct convolution's, for Winograd too). */
    public static double flops(String method, Map<String, String> params) {
        int[] d = GemmBenchmark.dims(params.get("config"));
        return 2.0 * d[0] * d[0] * 9 * d[1] * d[2];
    }
}
