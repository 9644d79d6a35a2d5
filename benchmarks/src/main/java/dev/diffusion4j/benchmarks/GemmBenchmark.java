package dev.diffusion4j.benchmarks;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.Gemm;
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
 * GEMM {@code C[M×N] = A[M×K] · B[K×N]} (row-major F32) at 1024³ and the U-Net's linear-layer shapes,
 * through {@link Gemm#gemm} into a preallocated C (the kernel, without allocating the output). The operands are heap
 * tensors as the library makes them ({@link Tensor#empty}: elements from a cache line on), so C is written where an
 * op's output would be.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class GemmBenchmark {
    /** JMH makes the state. */
    public GemmBenchmark() {
    }

    /** M x K x N. */
    @Param({"1024x1024x1024", "4096x320x320", "4096x320x2560", "4096x1280x320", "1024x640x640", "256x1280x1280",
            "4096x768x320"})
    public String shape;

    /** Threads of the {@link ComputePool}. */
    @Param({"1", "2"})
    public int threads;

    private ComputePool pool;
    private int m;
    private int k;
    private int n;
    private Gemm.PackA a;
    private Gemm.PackB b;
    private float[] c;
    private int cOff;

    /** Random operands and the pool. */
    @Setup
    public void setup() {
        int[] d = dims(shape);
        m = d[0];
        k = d[1];
        n = d[2];
        pool = new ComputePool(threads);
        Random rnd = new Random(1);
        Tensor at = randomTensor(rnd, m, k);
        Tensor bt = randomTensor(rnd, k, n);
        a = Gemm.viewA(at, 0, k, 1);
        b = Gemm.viewB(bt, 0, n, 1);
        Tensor ct = Tensor.empty(m, n);
        c = ct.array();
        cOff = ct.offset();
    }

    /** Stops the pool. */
    @TearDown
    public void tearDown() {
        pool.close();
    }

    static float[] random(Random rnd, int size) {
        float[] x = new float[size];
        for (int i = 0; i < size; i++) {
            x[i] = rnd.nextFloat() - 0.5f;
        }
        return x;
    }

    /** A heap tensor made as the library makes one ({@link Tensor#empty}), with uniform values in [-0.5, 0.5). */
    static Tensor randomTensor(Random rnd, int rows, int cols) {
        Tensor t = Tensor.empty(rows, cols);
        float[] x = random(rnd, rows * cols);
        System.arraycopy(x, 0, t.array(), t.offset(), x.length);
        return t;
    }

    static int[] dims(String shape) {
        String[] p = shape.split("x");
        int[] d = new int[p.length];
        for (int i = 0; i < p.length; i++) {
            d[i] = Integer.parseInt(p[i].trim());
        }
        return d;
    }

    /** One GEMM into the preallocated C. */
    @Benchmark
    public float[] matmul() {
        Gemm.gemm(pool, m, n, k, a, b, c, cOff, n, null, null, false);
        return c;
    }

    /** FLOPs of one invocation: {@code 2·M·K·N}. */
    public static double flops(String method, Map<String, String> params) {
        int[] d = dims(params.get("shape"));
        return 2.0 * d[0] * d[1] * d[2];
    }
}
