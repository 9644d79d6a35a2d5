package dev.diffusion4j.benchmarks;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
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
 * GroupNorm (32 groups, affine, with and without fused SiLU) over {@code [1, 320, 64, 64]} (the first
 * U-Net resolution of SD 1.x at 512²) and LayerNorm over {@code [2, 4096, 320]} (a transformer block's
 * norm with CFG batch 2), through {@link CpuBackend}: each invocation includes allocating its output,
 * as the op does in a model.
 *
 * <p>These kernels are bound by memory traffic, not arithmetic, so {@link #flops} reports a nominal
 * count per element (documented there) to let {@code BenchMain} print comparable rates; the fraction of
 * FMA peak it derives is small by nature and is not a measure of how close the kernel is to its limit.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class NormBenchmark {
    private static final int GN_N = 1, GN_C = 320, GN_H = 64, GN_W = 64, GN_GROUPS = 32;
    private static final int LN_B = 2, LN_T = 4096, LN_D = 320;

    @Param({"1", "2"})
    public int threads;

    private ComputePool pool;
    private CpuBackend cpu;
    private Tensor gnX;
    private Tensor gnGamma;
    private Tensor gnBeta;
    private Tensor lnX;
    private Tensor lnGamma;
    private Tensor lnBeta;

    @Setup
    public void setup() {
        pool = new ComputePool(threads);
        cpu = new CpuBackend(pool);
        Random rnd = new Random(1);
        gnX = Tensor.of(gaussian(rnd, GN_N * GN_C * GN_H * GN_W, 0.3f, 1.5f), GN_N, GN_C, GN_H, GN_W);
        gnGamma = Tensor.of(gaussian(rnd, GN_C, 1f, 0.2f), GN_C);
        gnBeta = Tensor.of(gaussian(rnd, GN_C, 0f, 0.2f), GN_C);
        lnX = Tensor.of(gaussian(rnd, LN_B * LN_T * LN_D, 0.1f, 2f), LN_B, LN_T, LN_D);
        lnGamma = Tensor.of(gaussian(rnd, LN_D, 1f, 0.2f), LN_D);
        lnBeta = Tensor.of(gaussian(rnd, LN_D, 0f, 0.2f), LN_D);
    }

    @TearDown
    public void tearDown() {
        pool.close();
    }

    private static float[] gaussian(Random rnd, int n, float mean, float std) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = mean + std * (float) rnd.nextGaussian();
        }
        return x;
    }

    @Benchmark
    public Tensor groupNorm() {
        return cpu.groupNorm(gnX, GN_GROUPS, gnGamma, gnBeta, 1e-5f, false);
    }

    @Benchmark
    public Tensor groupNormSilu() {
        return cpu.groupNorm(gnX, GN_GROUPS, gnGamma, gnBeta, 1e-5f, true);
    }

    @Benchmark
    public Tensor layerNorm() {
        return cpu.layerNorm(lnX, lnGamma, lnBeta, 1e-5f);
    }

    /**
     * Nominal FLOPs of one invocation, as elements × a constant (the kernels are memory-bound; see the
     * class comment): GroupNorm 8 per element (mean: subtract, add; variance: subtract, FMA; output:
     * subtract, FMA), plus 24 for the fused SiLU (exp ≈ 20, add, divide); LayerNorm 9 per element (as
     * GroupNorm plus the per-element gamma·rstd).
     */
    public static double flops(String method, Map<String, String> params) {
        double gn = (double) GN_N * GN_C * GN_H * GN_W;
        double ln = (double) LN_B * LN_T * LN_D;
        return switch (method) {
            case "groupNorm" -> 8 * gn;
            case "groupNormSilu" -> 32 * gn;
            case "layerNorm" -> 9 * ln;
            default -> Double.NaN;
        };
    }
}
