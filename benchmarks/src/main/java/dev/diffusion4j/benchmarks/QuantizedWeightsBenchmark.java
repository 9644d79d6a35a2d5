package dev.diffusion4j.benchmarks;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Quantized;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.Gemm;
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
 * The U-Net's linear layers ({@code y[rows×out] = x[rows×in] · Wᵀ}) with the weight stored as F32 (heap), F16
 * (off-heap, converted while packed) or Q8_0 (off-heap, dequantised while packed), through {@link Gemm#gemm} into a
 * preallocated output: what quantised weights cost in the kernels.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class QuantizedWeightsBenchmark {
    /** JMH makes the state. */
    public QuantizedWeightsBenchmark() {
    }

    /** rows x in x out: attention projections at 64×64 (batch 2), GEGLU in/out, cross-attention keys, a deep level. */
    @Param({"8192x320x320", "8192x320x2560", "8192x1280x320", "154x768x320", "512x1280x1280"})
    public String shape;

    /** How the weight is stored. */
    @Param({"F16", "Q8_0"})
    public String dtype;

    /** Threads of the {@link ComputePool}. */
    @Param({"2"})
    public int threads;

    private ComputePool pool;
    private Arena arena;
    private int rows;
    private int in;
    private int out;
    private Gemm.PackA a;
    private Gemm.PackB b;
    private float[] c;

    /** Random operands, the weight in its dtype, and the pool. */
    @Setup
    public void setup() {
        int[] d = GemmBenchmark.dims(shape);
        rows = d[0];
        in = d[1];
        out = d[2];
        pool = new ComputePool(threads);
        arena = Arena.ofShared();
        Random rnd = new Random(3);
        Tensor x = Tensor.of(GemmBenchmark.random(rnd, rows * in), rows, in);
        float[] w = GemmBenchmark.random(rnd, out * in);
        Tensor weight = weight(w, out, in, DType.valueOf(dtype), arena);
        a = Gemm.viewA(x, 0, in, 1);
        b = Gemm.viewB(weight, 0, 1, in);
        c = new float[rows * out];
    }

    /** {@code w} as a weight of the given storage: F32 heap, F16 off-heap, or quantised to Q8_0 off-heap. */
    static Tensor weight(float[] w, int out, int in, DType dtype, Arena arena) {
        Tensor f32 = Tensor.of(w, out, in);
        return switch (dtype) {
            case F32 -> f32;
            case Q8_0 -> Quantized.quantize(f32, arena);
            case F16, BF16 -> FullSizeModels.half(w, dtype, arena, Shape.of(out, in));
        };
    }

    /** Stops the pool, frees the weight. */
    @TearDown
    public void tearDown() {
        pool.close();
        arena.close();
    }

    /** One linear layer (no bias) into the preallocated output. */
    @Benchmark
    public float[] linear() {
        Gemm.gemm(pool, rows, out, in, a, b, c, 0, out, null, null, false);
        return c;
    }

    /** FLOPs of one invocation: {@code 2·rows·in·out}. */
    public static double flops(String method, Map<String, String> params) {
        int[] d = GemmBenchmark.dims(params.get("shape"));
        return 2.0 * d[0] * d[1] * d[2];
    }
}
