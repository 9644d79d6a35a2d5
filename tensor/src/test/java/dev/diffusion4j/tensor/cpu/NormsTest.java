package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.HalfFloats;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class NormsTest {
    private static ComputePool pool;
    private static CpuBackend cpu;

    @BeforeAll
    static void start() {
        pool = new ComputePool(3);
        cpu = new CpuBackend(pool);
    }

    @AfterAll
    static void stop() {
        pool.close();
    }

    /** A segment tensor holding {@code values} rounded to {@code dtype} (little-endian), plus the rounded values. */
    static Tensor segment(float[] values, DType dtype, int... dims) {
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * dtype.byteSize()]);
        for (int i = 0; i < values.length; i++) {
            switch (dtype) {
                case F32 -> seg.set(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4L * i, values[i]);
                case F16 -> seg.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i,
                        HalfFloats.floatToF16(values[i]));
                case BF16 -> seg.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i,
                        HalfFloats.floatToBf16(values[i]));
            }
        }
        return Tensor.wrap(seg, dtype, Shape.of(dims));
    }

    static double[] refGroupNorm(float[] x, int n, int c, int hw, int groups, float[] gamma, float[] beta, double eps, boolean silu) {
        double[] y = new double[x.length];
        int cpg = c / groups;
        for (int b = 0; b < n; b++) {
            for (int g = 0; g < groups; g++) {
                int base = (b * c + g * cpg) * hw;
                int len = cpg * hw;
                double mean = 0;
                for (int i = 0; i < len; i++) {
                    mean += x[base + i];
                }
                mean /= len;
                double var = 0;
                for (int i = 0; i < len; i++) {
                    var += (x[base + i] - mean) * (x[base + i] - mean);
                }
                var /= len;
                double rstd = 1 / Math.sqrt(var + eps);
                for (int ch = 0; ch < cpg; ch++) {
                    int cc = g * cpg + ch;
                    for (int i = 0; i < hw; i++) {
                        int k = base + ch * hw + i;
                        double v = (x[k] - mean) * rstd * (gamma == null ? 1 : gamma[cc]) + (beta == null ? 0 : beta[cc]);
                        y[k] = silu ? Reference.silu(v) : v;
                    }
                }
            }
        }
        return y;
    }

    @Test
    void groupNormMatchesDoubleReference() {
        long seed = System.nanoTime();
        SplittableRandom rnd = new SplittableRandom(seed);
        int[][] cases = {{1, 32, 8, 8, 32}, {2, 12, 5, 7, 4}, {3, 6, 1, 1, 3}, {1, 64, 17, 3, 32}, {2, 4, 33, 1, 1},
                {1, 320, 16, 16, 32}, {2, 9, 3, 5, 9}};
        for (int[] k : cases) {
            int n = k[0], c = k[1], h = k[2], w = k[3], groups = k[4];
            for (boolean silu : new boolean[] {false, true}) {
                for (boolean affine : new boolean[] {false, true}) {
                    float[] x = Reference.gaussian(rnd, n * c * h * w, rnd.nextDouble(-3, 3), rnd.nextDouble(0.1, 5));
                    float[] gamma = affine ? Reference.gaussian(rnd, c, 1, 0.5) : null;
                    float[] beta = affine ? Reference.gaussian(rnd, c, 0, 0.5) : null;
                    float eps = 1e-5f;
                    Tensor out = cpu.groupNorm(Tensor.of(x, n, c, h, w), groups, affine ? Tensor.of(gamma, c) : null,
                            affine ? Tensor.of(beta, c) : null, eps, silu);
                    assertEquals(Shape.of(n, c, h, w), out.shape());
                    double[] want = refGroupNorm(x, n, c, h * w, groups, gamma, beta, eps, silu);
                    Reference.assertClose(want, out.toFloatArray(), 3e-6, 3e-6,
                            "groupNorm seed " + seed + " case " + java.util.Arrays.toString(k) + " silu=" + silu + " affine=" + affine);
                }
            }
        }
    }

    @Test
    void groupNormIsRobustToALargeMean() {
        long seed = System.nanoTime();
        SplittableRandom rnd = new SplittableRandom(seed);
        // mean 1000, spread 0.01: a naive float mean or E[x²]-E[x]² would be off by a lot in normalised units
        float[] x = Reference.gaussian(rnd, 2 * 8 * 40 * 40, 1000, 0.01);
        Tensor out = cpu.groupNorm(Tensor.of(x, 2, 8, 40, 40), 2, null, null, 1e-6f, false);
        double[] want = refGroupNorm(x, 2, 8, 1600, 2, null, null, 1e-6, false);
        Reference.assertClose(want, out.toFloatArray(), 3e-5, 3e-6, "groupNorm large mean seed " + seed);
        float[] z = new float[4 * 50];
        Tensor zero = cpu.groupNorm(Tensor.of(z, 1, 4, 50), 2, null, null, 1e-5f, false);
        for (float v : zero.toFloatArray()) {
            assertEquals(0f, v, "constant input normalises to 0");
        }
    }

    @Test
    void groupNormAcceptsHalfParametersAndSegmentInputAndRank3() {
        long seed = System.nanoTime();
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = 2, c = 16, t = 19;
        float[] x = Reference.gaussian(rnd, n * c * t, 0.5, 2);
        float[] gamma = Reference.gaussian(rnd, c, 1, 0.3);
        float[] beta = Reference.gaussian(rnd, c, 0, 0.3);
        for (DType dt : new DType[] {DType.F32, DType.F16, DType.BF16}) { // the scalar types (Q8_0 is a weight format)
            Tensor g = segment(gamma, dt, c);
            Tensor b = segment(beta, dt, c);
            float[] gr = g.toFloatArray();
            float[] br = b.toFloatArray();
            Tensor out = cpu.groupNorm(segment(x, DType.F32, n, c, t), 4, g, b, 1e-6f, true);
            double[] want = refGroupNorm(x, n, c, t, 4, gr, br, 1e-6, true);
            Reference.assertClose(want, out.toFloatArray(), 3e-6, 3e-6, "groupNorm " + dt + " params seed " + seed);
        }
        // rank 2 ([N, C]: one element per channel)
        float[] x2 = Reference.gaussian(rnd, 3 * 8, 0, 1);
        Tensor o2 = cpu.groupNorm(Tensor.of(x2, 3, 8), 2, null, null, 1e-5f, false);
        Reference.assertClose(refGroupNorm(x2, 3, 8, 1, 2, null, null, 1e-5, false), o2.toFloatArray(), 3e-6, 3e-6, "rank 2");
    }

    @Test
    void groupNormOnAnOffsetView() {
        float[] big = Reference.gaussian(new SplittableRandom(11), 2 * 4 * 9, 0, 1);
        Tensor second = Tensor.of(big, 2, 4, 9).slice(1).reshape(1, 4, 9);
        float[] part = java.util.Arrays.copyOfRange(big, 36, 72);
        Tensor out = cpu.groupNorm(second, 2, null, null, 1e-5f, false);
        Reference.assertClose(refGroupNorm(part, 1, 4, 9, 2, null, null, 1e-5, false), out.toFloatArray(), 3e-6, 3e-6, "view");
    }

    @Test
    void groupNormRejectsBadArguments() {
        Tensor x = Tensor.zeros(1, 6, 4, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cpu.groupNorm(x, 4, null, null, 1e-5f, false));
        assertTrue(e.getMessage().contains("groupNorm") && e.getMessage().contains("[1, 6, 4, 4]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> cpu.groupNorm(x, 0, null, null, 1e-5f, false));
        e = assertThrows(IllegalArgumentException.class, () -> cpu.groupNorm(x, 3, Tensor.zeros(5), null, 1e-5f, false));
        assertTrue(e.getMessage().contains("gamma") && e.getMessage().contains("[5]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> cpu.groupNorm(x, 3, null, Tensor.zeros(6, 1), 1e-5f, false));
        assertThrows(IllegalArgumentException.class, () -> cpu.groupNorm(Tensor.zeros(6), 3, null, null, 1e-5f, false));
    }

    static double[] refLayerNorm(float[] x, int d, float[] gamma, float[] beta, double eps) {
        double[] y = new double[x.length];
        for (int r = 0; r < x.length / d; r++) {
            double mean = 0;
            for (int i = 0; i < d; i++) {
                mean += x[r * d + i];
            }
            mean /= d;
            double var = 0;
            for (int i = 0; i < d; i++) {
                var += (x[r * d + i] - mean) * (x[r * d + i] - mean);
            }
            double rstd = 1 / Math.sqrt(var / d + eps);
            for (int i = 0; i < d; i++) {
                y[r * d + i] = (x[r * d + i] - mean) * rstd * (gamma == null ? 1 : gamma[i]) + (beta == null ? 0 : beta[i]);
            }
        }
        return y;
    }

    @Test
    void layerNormMatchesDoubleReference() {
        long seed = System.nanoTime();
        SplittableRandom rnd = new SplittableRandom(seed);
        int[][] shapes = {{2, 77, 64}, {1, 5, 1}, {3, 17}, {4, 2, 3, 33}, {7}, {2, 300, 320}, {1, 3, 1023}};
        for (int[] s : shapes) {
            int d = s[s.length - 1];
            int numel = 1;
            for (int v : s) {
                numel *= v;
            }
            for (DType dt : new DType[] {DType.F32, DType.F16, DType.BF16}) { // the scalar types (Q8_0 is a weight format)
                float[] x = Reference.gaussian(rnd, numel, rnd.nextDouble(-2, 2), rnd.nextDouble(0.2, 3));
                Tensor g = segment(Reference.gaussian(rnd, d, 1, 0.3), dt, d);
                Tensor b = segment(Reference.gaussian(rnd, d, 0, 0.3), dt, d);
                Tensor out = cpu.layerNorm(Tensor.of(x, s), g, b, 1e-5f);
                assertEquals(Shape.of(s), out.shape());
                Reference.assertClose(refLayerNorm(x, d, g.toFloatArray(), b.toFloatArray(), 1e-5), out.toFloatArray(), 3e-6, 3e-6,
                        "layerNorm seed " + seed + " shape " + java.util.Arrays.toString(s) + " " + dt);
            }
            float[] x = Reference.gaussian(rnd, numel, 0, 1);
            Reference.assertClose(refLayerNorm(x, d, null, null, 1e-5), cpu.layerNorm(Tensor.of(x, s), null, null, 1e-5f).toFloatArray(),
                    3e-6, 3e-6, "layerNorm no affine seed " + seed);
        }
        // a large common offset
        float[] x = Reference.gaussian(rnd, 4 * 320, -5000, 0.05);
        Reference.assertClose(refLayerNorm(x, 320, null, null, 1e-5), cpu.layerNorm(Tensor.of(x, 4, 320), null, null, 1e-5f).toFloatArray(),
                3e-5, 3e-6, "layerNorm large offset seed " + seed);
    }

    @Test
    void layerNormRejectsBadParameters() {
        Tensor x = Tensor.zeros(2, 3, 8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cpu.layerNorm(x, Tensor.zeros(3), null, 1e-5f));
        assertTrue(e.getMessage().contains("layerNorm") && e.getMessage().contains("[2, 3, 8]") && e.getMessage().contains("[3]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> cpu.layerNorm(x, null, Tensor.zeros(9), 1e-5f));
        assertThrows(IllegalArgumentException.class, () -> cpu.layerNorm(Tensor.zeros(new int[0]), null, null, 1e-5f));
    }

    @Test
    void softmaxMatchesDoubleReference() {
        long seed = System.nanoTime();
        SplittableRandom rnd = new SplittableRandom(seed);
        int[][] shapes = {{2, 8, 77, 77}, {1, 1}, {3, 17}, {5, 1000}, {2, 4096}, {31}};
        for (int[] s : shapes) {
            int d = s[s.length - 1];
            int numel = 1;
            for (int v : s) {
                numel *= v;
            }
            float[] x = Reference.gaussian(rnd, numel, rnd.nextDouble(-50, 50), rnd.nextDouble(0.1, 20));
            Tensor out = cpu.softmax(Tensor.of(x, s));
            float[] got = out.toFloatArray();
            double[] want = new double[numel];
            for (int r = 0; r < numel / d; r++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int i = 0; i < d; i++) {
                    max = Math.max(max, x[r * d + i]);
                }
                // x - max is rounded to float first (as any float kernel, PyTorch's included, does):
                // for entries far below the max that rounding alone is ~1e-6 relative
                double sum = 0;
                for (int i = 0; i < d; i++) {
                    sum += Math.exp((float) (x[r * d + i] - max));
                }
                double rowSum = 0;
                for (int i = 0; i < d; i++) {
                    want[r * d + i] = Math.exp((float) (x[r * d + i] - max)) / sum;
                    rowSum += got[r * d + i];
                }
                assertEquals(1.0, rowSum, 1e-5, "softmax row sums to 1, seed " + seed);
            }
            // entries far below the max are flushed to 0 below Float.MIN_NORMAL: absolute 1.2e-38 slack
            Reference.assertClose(want, got, 1.2e-38, 1e-6, "softmax seed " + seed + " shape " + java.util.Arrays.toString(s));
        }
        // huge logits do not overflow; -inf entries give exact zeros
        float[] x = {1000f, 999f, Float.NEGATIVE_INFINITY, -1000f};
        float[] y = cpu.softmax(Tensor.of(x, 1, 4)).toFloatArray();
        assertEquals(1 / (1 + Math.exp(-1)), y[0], 1e-6);
        assertEquals(0f, y[2]);
        assertEquals(0f, y[3]);
    }
}
