package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class Conv2dTest {
    private static final ComputePool POOL1 = new ComputePool(1);
    private static final ComputePool POOL2 = new ComputePool(2);

    @AfterAll
    static void closePools() {
        POOL1.close();
        POOL2.close();
    }

    static double[] reference(float[] x, int n, int cin, int h, int w, float[] wt, int cout, int kh, int kw,
                              float[] bias, int s, int pt, int pb, int pl, int pr) {
        int ho = (h + pt + pb - kh) / s + 1;
        int wo = (w + pl + pr - kw) / s + 1;
        double[] out = new double[n * cout * ho * wo];
        for (int b = 0; b < n; b++) {
            for (int co = 0; co < cout; co++) {
                for (int oy = 0; oy < ho; oy++) {
                    for (int ox = 0; ox < wo; ox++) {
                        double acc = bias != null ? bias[co] : 0;
                        for (int ci = 0; ci < cin; ci++) {
                            for (int ky = 0; ky < kh; ky++) {
                                int iy = oy * s + ky - pt;
                                if (iy < 0 || iy >= h) {
                                    continue;
                                }
                                for (int kx = 0; kx < kw; kx++) {
                                    int ix = ox * s + kx - pl;
                                    if (ix < 0 || ix >= w) {
                                        continue;
                                    }
                                    acc += (double) x[((b * cin + ci) * h + iy) * w + ix]
                                            * wt[((co * cin + ci) * kh + ky) * kw + kx];
                                }
                            }
                        }
                        out[((b * cout + co) * ho + oy) * wo + ox] = acc;
                    }
                }
            }
        }
        return out;
    }

    @ParameterizedTest(name = "n={0} cin={1} {2}x{3} cout={4} k={5}x{6} s={7} pad=({8},{9},{10},{11}) bias={12}")
    @CsvSource({
            "1, 3, 8, 8, 5, 3, 3, 1, 1, 1, 1, 1, true",
            "2, 7, 13, 11, 17, 3, 3, 1, 1, 1, 1, 1, false",
            "1, 4, 16, 16, 8, 3, 3, 2, 1, 1, 1, 1, true",
            "1, 5, 17, 15, 6, 3, 3, 2, 0, 1, 0, 1, true",
            "2, 6, 16, 16, 13, 3, 3, 2, 0, 1, 0, 1, false",
            // stride 2 with runs of whole panels (vector packing) and borders on both sides
            "1, 3, 10, 70, 5, 3, 3, 2, 0, 1, 0, 1, true",
            "2, 4, 9, 130, 6, 3, 3, 2, 1, 1, 1, 1, true",
            "1, 2, 6, 67, 3, 3, 3, 2, 2, 2, 2, 2, false",
            "1, 33, 9, 10, 14, 1, 1, 1, 0, 0, 0, 0, true",
            "2, 16, 40, 40, 20, 1, 1, 1, 0, 0, 0, 0, false",
            "1, 8, 9, 9, 4, 1, 1, 2, 0, 0, 0, 0, true",
            "1, 3, 12, 9, 4, 5, 3, 1, 2, 1, 0, 2, true",
            "1, 2, 7, 7, 3, 3, 3, 3, 0, 0, 0, 0, false",
            "1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, false",
            "1, 1, 1, 1, 2, 3, 3, 1, 1, 1, 1, 1, true",
            "1, 40, 37, 35, 27, 3, 3, 1, 1, 1, 1, 1, true",
            "1, 4, 5, 70, 3, 3, 3, 1, 1, 1, 1, 1, true",
            "3, 4, 6, 6, 50, 3, 3, 1, 1, 1, 1, 1, true",
            // stride 1 with output rows of whole vectors: B read in place from the padded input
            "1, 5, 16, 16, 13, 3, 3, 1, 1, 1, 1, 1, true",
            "2, 9, 32, 32, 30, 3, 3, 1, 1, 1, 1, 1, false",
            "1, 3, 8, 64, 25, 3, 3, 1, 1, 1, 1, 1, true",
            "1, 6, 17, 17, 7, 3, 3, 1, 0, 1, 0, 1, true",
            "1, 4, 18, 18, 5, 3, 3, 1, 0, 0, 0, 0, false",
            "1, 2, 20, 34, 3, 5, 3, 1, 2, 2, 0, 0, true",
            "1, 40, 16, 16, 27, 1, 1, 1, 0, 0, 0, 0, true",
            // a batch of small images convolved as one GEMM (images side by side in N)
            "2, 7, 16, 16, 14, 3, 3, 1, 1, 1, 1, 1, true",
            "3, 5, 8, 16, 13, 3, 3, 1, 1, 1, 1, 1, false",
            "2, 3, 9, 17, 4, 3, 3, 1, 0, 1, 0, 0, true"})
    void matchesReference(int n, int cin, int h, int w, int cout, int kh, int kw, int s, int pt, int pb, int pl,
                          int pr, boolean withBias) {
        long seed = 31L * n + 7L * cin + 13L * h + w + 101L * cout + kh + 3L * s + pt + 5L * pb;
        Random rnd = new Random(seed);
        float[] x = GemmTest.random(rnd, n * cin * h * w);
        float[] wt = GemmTest.random(rnd, cout * cin * kh * kw);
        float[] bias = withBias ? GemmTest.random(rnd, cout) : null;
        double[] want = reference(x, n, cin, h, w, wt, cout, kh, kw, bias, s, pt, pb, pl, pr);
        int ho = (h + pt + pb - kh) / s + 1;
        int wo = (w + pl + pr - kw) / s + 1;
        for (ComputePool pool : new ComputePool[] {POOL1, POOL2}) {
            Tensor y = Conv2d.conv2d(pool, Tensor.of(x, n, cin, h, w), Tensor.of(wt, cout, cin, kh, kw),
                    withBias ? Tensor.of(bias, cout) : null, s, pt, pb, pl, pr);
            assertEquals(Shape.of(n, cout, ho, wo), y.shape());
            GemmTest.assertClose(want, y.toFloatArray(), cin * kh * kw, 1,
                    "seed " + seed + " threads " + pool.threads());
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"F16", "BF16", "F32"})
    void segmentWeightsAndBias(DType dtype) {
        long seed = 77 + dtype.ordinal();
        Random rnd = new Random(seed);
        int n = 2;
        int cin = 10;
        int h = 12;
        int w = 14;
        int cout = 15;
        float[] x = GemmTest.random(rnd, n * cin * h * w);
        float[] wt = GemmTest.random(rnd, cout * cin * 9);
        float[] bias = GemmTest.random(rnd, cout);
        double[] want = reference(x, n, cin, h, w, GemmTest.rounded(wt, dtype), cout, 3, 3,
                GemmTest.rounded(bias, dtype), 1, 1, 1, 1, 1);
        try (Arena arena = Arena.ofConfined()) {
            Tensor y = Conv2d.conv2d(POOL2, Tensor.of(x, n, cin, h, w),
                    GemmTest.segment(arena, wt, dtype, cout, cin, 3, 3), GemmTest.segment(arena, bias, dtype, cout),
                    1, 1, 1, 1, 1);
            GemmTest.assertClose(want, y.toFloatArray(), cin * 9, 1, "seed " + seed + " " + dtype);
        }
        try (Arena arena = Arena.ofShared()) {
            Tensor y = Conv2d.conv2d(POOL2, Tensor.of(x, n, cin, h, w),
                    GemmTest.segment(arena, wt, dtype, cout, cin, 3, 3), GemmTest.segment(arena, bias, dtype, cout),
                    1, 1, 1, 1, 1);
            GemmTest.assertClose(want, y.toFloatArray(), cin * 9, 1, "seed " + seed + " " + dtype + " shared");
        }
    }

    /**
     * Deep 3×3 convolutions with 16-bit weights, deep enough (K = 1179: five K blocks) that the GEMM packs A for a
     * group of four K blocks at once and a last group of one, with conversion chunks that end inside a gather step.
     */
    @ParameterizedTest(name = "{0} n={1} cout={2} {3}x{4}")
    @CsvSource({"F16, 2, 29, 8, 8", "BF16, 1, 40, 5, 7", "F16, 1, 12, 9, 16"})
    void deepConvolutionWithHalfWeights(DType dtype, int n, int cout, int h, int w) {
        assertHalfWeightsAsRounded(dtype, n, 131, cout, h, w, 3, 23L * cout + h + w + dtype.ordinal());
    }

    /** 1×1 convolutions with 16-bit weights (converted while the GEMM packs them, in every task). */
    @ParameterizedTest(name = "{0} n={1} cin={2} cout={3} {4}x{5}")
    @CsvSource({"F16, 1, 40, 30, 48, 50", "BF16, 2, 300, 20, 17, 33", "F16, 1, 520, 200, 8, 40"})
    void oneByOneWithHalfWeights(DType dtype, int n, int cin, int cout, int h, int w) {
        assertHalfWeightsAsRounded(dtype, n, cin, cout, h, w, 1, 19L * cin + cout + h + dtype.ordinal());
    }

    /**
     * A k×k convolution (stride 1, "same" padding) with 16-bit weights and bias gives the same bits as with the F32
     * weights they round to, for one thread and two, and that is close to the reference.
     */
    private static void assertHalfWeightsAsRounded(DType dtype, int n, int cin, int cout, int h, int w, int k,
                                                   long seed) {
        int pad = k / 2;
        Random rnd = new Random(seed);
        float[] x = GemmTest.random(rnd, n * cin * h * w);
        float[] wt = GemmTest.random(rnd, cout * cin * k * k);
        float[] bias = GemmTest.random(rnd, cout);
        float[] wr = GemmTest.rounded(wt, dtype);
        float[] br = GemmTest.rounded(bias, dtype);
        Tensor xt = Tensor.of(x, n, cin, h, w);
        float[] f32 = Conv2d.conv2d(POOL2, xt, Tensor.of(wr, cout, cin, k, k), Tensor.of(br, cout), 1, pad, pad, pad,
                pad).toFloatArray();
        GemmTest.assertClose(reference(x, n, cin, h, w, wr, cout, k, k, br, 1, pad, pad, pad, pad), f32, cin * k * k,
                1, "seed " + seed);
        try (Arena arena = Arena.ofShared()) {
            Tensor ws = GemmTest.segment(arena, wt, dtype, cout, cin, k, k);
            Tensor bs = GemmTest.segment(arena, bias, dtype, cout);
            for (ComputePool pool : new ComputePool[] {POOL1, POOL2}) {
                float[] got = Conv2d.conv2d(pool, xt, ws, bs, 1, pad, pad, pad, pad).toFloatArray();
                org.junit.jupiter.api.Assertions.assertArrayEquals(f32, got,
                        "seed " + seed + " " + dtype + " threads " + pool.threads());
            }
        }
    }

    @Test
    void inputViewWithOffsetIsRespected() {
        long seed = 3;
        Random rnd = new Random(seed);
        float[] x = GemmTest.random(rnd, 2 * 3 * 6 * 6);
        float[] wt = GemmTest.random(rnd, 4 * 3 * 9);
        Tensor second = Tensor.of(x, 2, 3, 6, 6).slice(1).reshape(1, 3, 6, 6);
        float[] x1 = java.util.Arrays.copyOfRange(x, 3 * 36, 6 * 36);
        double[] want = reference(x1, 1, 3, 6, 6, wt, 4, 3, 3, null, 1, 1, 1, 1, 1);
        GemmTest.assertClose(want, Conv2d.conv2d(POOL2, second, Tensor.of(wt, 4, 3, 3, 3), null, 1, 1, 1, 1, 1)
                .toFloatArray(), 27, 1, "seed " + seed);
        Tensor second1x1 = Tensor.of(x, 2, 3, 6, 6).slice(1).reshape(1, 3, 6, 6);
        float[] w1 = GemmTest.random(rnd, 4 * 3);
        GemmTest.assertClose(reference(x1, 1, 3, 6, 6, w1, 4, 1, 1, null, 1, 0, 0, 0, 0),
                Conv2d.conv2d(POOL1, second1x1, Tensor.of(w1, 4, 3, 1, 1), null, 1, 0, 0, 0, 0).toFloatArray(), 3, 1,
                "seed " + seed + " 1x1");
    }

    @Test
    void badShapesAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Conv2d.conv2d(POOL1, Tensor.zeros(1, 3, 8, 8), Tensor.zeros(4, 2, 3, 3), null, 1, 1, 1, 1, 1));
        assertTrue(e.getMessage().startsWith("conv2d:") && e.getMessage().contains("[1, 3, 8, 8]")
                && e.getMessage().contains("[4, 2, 3, 3]"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> Conv2d.conv2d(POOL1, Tensor.zeros(3, 8, 8), Tensor.zeros(4, 3, 3, 3), null, 1, 1, 1, 1, 1));
        assertThrows(IllegalArgumentException.class,
                () -> Conv2d.conv2d(POOL1, Tensor.zeros(1, 3, 8, 8), Tensor.zeros(4, 3, 3, 3), Tensor.zeros(5),
                        1, 1, 1, 1, 1));
        assertThrows(IllegalArgumentException.class,
                () -> Conv2d.conv2d(POOL1, Tensor.zeros(1, 3, 8, 8), Tensor.zeros(4, 3, 3, 3), null, 0, 1, 1, 1, 1));
        assertThrows(IllegalArgumentException.class,
                () -> Conv2d.conv2d(POOL1, Tensor.zeros(1, 3, 8, 8), Tensor.zeros(4, 3, 3, 3), null, 1, -1, 1, 1, 1));
        assertThrows(IllegalArgumentException.class,
                () -> Conv2d.conv2d(POOL1, Tensor.zeros(1, 3, 2, 2), Tensor.zeros(4, 3, 3, 3), null, 1, 0, 0, 0, 0));
    }
}
