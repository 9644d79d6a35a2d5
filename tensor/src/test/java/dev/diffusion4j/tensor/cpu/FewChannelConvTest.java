package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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

class FewChannelConvTest {
    private static final ComputePool POOL1 = new ComputePool(1);
    private static final ComputePool POOL2 = new ComputePool(2);

    @AfterAll
    static void closePools() {
        POOL1.close();
        POOL2.close();
    }

    /**
     * Few output channels (every group split: 1…8) against the double reference and against the GEMM path, over
     * odd widths (vector tails), asymmetric and large padding, 1×1 / 3×3 / 5×3 kernels, batches and both pools.
     */
    @ParameterizedTest(name = "n={0} cin={1} {2}x{3} cout={4} k={5}x{6} pad=({7},{8},{9},{10}) bias={11}")
    @CsvSource({
            "1, 128, 40, 70, 3, 3, 3, 1, 1, 1, 1, true",
            "2, 9, 13, 11, 3, 3, 3, 1, 1, 1, 1, true",
            "1, 5, 17, 64, 1, 3, 3, 1, 1, 1, 1, false",
            "1, 6, 9, 100, 2, 3, 3, 1, 1, 1, 1, true",
            "3, 7, 8, 48, 4, 3, 3, 1, 1, 1, 1, true",
            "1, 20, 19, 130, 5, 3, 3, 0, 1, 2, 0, true",
            "2, 4, 6, 33, 6, 3, 3, 2, 2, 2, 2, false",
            "1, 3, 21, 17, 7, 5, 3, 2, 1, 0, 2, true",
            "1, 33, 12, 65, 8, 3, 3, 1, 1, 1, 1, true",
            "1, 512, 8, 16, 8, 1, 1, 0, 0, 0, 0, true",
            "2, 4, 7, 9, 4, 1, 1, 0, 0, 0, 0, false",
            "1, 3, 5, 5, 3, 1, 1, 1, 1, 1, 1, true",
            "1, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1, true",
            "1, 2, 3, 3, 3, 3, 3, 0, 0, 0, 0, false",
            "1, 40, 300, 20, 3, 3, 3, 1, 1, 1, 1, true"})
    void matchesReferenceAndGemmPath(int n, int cin, int h, int w, int cout, int kh, int kw, int pt, int pb, int pl,
                                     int pr, boolean withBias) {
        long seed = 31L * n + 7L * cin + 13L * h + w + 101L * cout + kh + 5L * pb + pl;
        Random rnd = new Random(seed);
        float[] x = GemmTest.random(rnd, n * cin * h * w);
        float[] wt = GemmTest.random(rnd, cout * cin * kh * kw);
        float[] bias = withBias ? GemmTest.random(rnd, cout) : null;
        double[] want = Conv2dTest.reference(x, n, cin, h, w, wt, cout, kh, kw, bias, 1, pt, pb, pl, pr);
        int ho = h + pt + pb - kh + 1;
        int wo = w + pl + pr - kw + 1;
        Tensor xt = Tensor.of(x, n, cin, h, w);
        Tensor wT = Tensor.of(wt, cout, cin, kh, kw);
        Tensor bT = withBias ? Tensor.of(bias, cout) : null;
        assertTrue(FewChannelConv.applies(wT, 1));
        Tensor gemm = Conv2d.conv2d(POOL2, xt, ConvRows.of(xt), wT, bT, 1, pt, pb, pl, pr, null, false,
                Long.MAX_VALUE, false);
        for (ComputePool pool : new ComputePool[] {POOL1, POOL2}) {
            String what = "seed " + seed + " threads " + pool.threads();
            Tensor y = Conv2d.conv2d(pool, xt, wT, bT, 1, pt, pb, pl, pr);
            assertEquals(Shape.of(n, cout, ho, wo), y.shape(), what);
            GemmTest.assertClose(want, y.toFloatArray(), cin * kh * kw, 1, what);
            float[] g = gemm.toFloatArray();
            float[] f = y.toFloatArray();
            double max = 1;
            for (double v : want) {
                max = Math.max(max, Math.abs(v));
            }
            // Two float sums of the same terms in different orders: within a few roundings of the largest value.
            double tol = 4e-6 * Math.sqrt(cin * kh * kw) * max;
            for (int i = 0; i < g.length; i++) {
                assertEquals(g[i], f[i], tol, what + ": element " + i + " vs the GEMM path");
            }
        }
    }

    /** Deterministic: the same bits for one thread and two, and for repeated calls (thread buffers reused). */
    @Test
    void sameBitsForAnyThreadCountAndRepeatedCalls() {
        long seed = 11;
        Random rnd = new Random(seed);
        Tensor x = Tensor.of(GemmTest.random(rnd, 2 * 24 * 37 * 45), 2, 24, 37, 45);
        Tensor w = Tensor.of(GemmTest.random(rnd, 3 * 24 * 9), 3, 24, 3, 3);
        Tensor b = Tensor.of(GemmTest.random(rnd, 3), 3);
        float[] one = Conv2d.conv2d(POOL1, x, w, b, 1, 1, 1, 1, 1).toFloatArray();
        // a call with another geometry in between leaves other values in the per-thread buffers
        Conv2d.conv2d(POOL2, Tensor.of(GemmTest.random(rnd, 5 * 50 * 61), 1, 5, 50, 61),
                Tensor.of(GemmTest.random(rnd, 2 * 5 * 25), 2, 5, 5, 5), null, 1, 0, 0, 0, 0);
        float[] two = Conv2d.conv2d(POOL2, x, w, b, 1, 1, 1, 1, 1).toFloatArray();
        assertArrayEquals(one, two, "seed " + seed);
    }

    /**
     * Bands of one row and blocks of one channel sum the same terms in the same order as one band and one block:
     * the same bits.
     */
    @ParameterizedTest(name = "cout={0} k={1}")
    @CsvSource({"3, 3", "4, 3", "8, 1", "5, 3"})
    void bandAndBlockSizesGiveTheSameBits(int cout, int k) {
        long seed = 97L * cout + k;
        Random rnd = new Random(seed);
        int n = 2;
        int cin = 11;
        int h = 9;
        int w = 37;
        Tensor x = Tensor.of(GemmTest.random(rnd, n * cin * h * w), n, cin, h, w);
        Tensor wt = Tensor.of(GemmTest.random(rnd, cout * cin * k * k), cout, cin, k, k);
        Tensor b = Tensor.of(GemmTest.random(rnd, cout), cout);
        int p = k / 2;
        float[] big = FewChannelConv.conv2d(POOL2, ConvRows.of(x), wt, b, p, p, h, w, null, false, 1 << 20, 1 << 24)
                .toFloatArray();
        float[] small = FewChannelConv.conv2d(POOL2, ConvRows.of(x), wt, b, p, p, h, w, null, false, 1, 1)
                .toFloatArray();
        float[] mid = FewChannelConv.conv2d(POOL1, ConvRows.of(x), wt, b, p, p, h, w, null, false, 4, 200)
                .toFloatArray();
        assertArrayEquals(big, small, "seed " + seed);
        assertArrayEquals(big, mid, "seed " + seed);
        GemmTest.assertClose(Conv2dTest.reference(x.toFloatArray(), n, cin, h, w, wt.toFloatArray(), cout, k, k,
                b.toFloatArray(), 1, p, p, p, p), big, cin * k * k, 1, "seed " + seed);
    }

    /** F16 / BF16 weights and bias (memory segments, shared and confined) are converted like the GEMM path's. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"F16", "BF16"})
    void segmentWeights(DType dtype) {
        long seed = 5 + dtype.ordinal();
        Random rnd = new Random(seed);
        int cin = 12;
        float[] x = GemmTest.random(rnd, cin * 10 * 20);
        float[] wt = GemmTest.random(rnd, 3 * cin * 9);
        float[] bias = GemmTest.random(rnd, 3);
        double[] want = Conv2dTest.reference(x, 1, cin, 10, 20, GemmTest.rounded(wt, dtype), 3, 3, 3,
                GemmTest.rounded(bias, dtype), 1, 1, 1, 1, 1);
        for (Arena arena : new Arena[] {Arena.ofConfined(), Arena.ofShared()}) {
            try (arena) {
                Tensor y = Conv2d.conv2d(POOL2, Tensor.of(x, 1, cin, 10, 20),
                        GemmTest.segment(arena, wt, dtype, 3, cin, 3, 3), GemmTest.segment(arena, bias, dtype, 3),
                        1, 1, 1, 1, 1);
                GemmTest.assertClose(want, y.toFloatArray(), cin * 9, 1, "seed " + seed + " " + dtype);
            }
        }
    }

    /** The VAE's conv_out: GroupNorm + SiLU fused into the convolution, with and without a residual. */
    @ParameterizedTest(name = "residual={0}")
    @CsvSource({"false", "true"})
    void groupNormSiluPrologueAndResidual(boolean withResidual) {
        long seed = 23;
        Random rnd = new Random(seed);
        int n = 2;
        int c = 32;
        int h = 20;
        int w = 40;
        Tensor x = Tensor.of(GemmTest.random(rnd, n * c * h * w), n, c, h, w);
        Tensor gamma = Tensor.of(GemmTest.random(rnd, c), c);
        Tensor beta = Tensor.of(GemmTest.random(rnd, c), c);
        Tensor wt = Tensor.of(GemmTest.random(rnd, 3 * c * 9), 3, c, 3, 3);
        Tensor b = Tensor.of(GemmTest.random(rnd, 3), 3);
        Tensor residual = withResidual ? Tensor.of(GemmTest.random(rnd, n * 3 * h * w), n, 3, h, w) : null;
        CpuBackend be = new CpuBackend(POOL2);
        Tensor normed = be.groupNorm(x, 8, gamma, beta, 1e-6f, true);
        Tensor separate = be.conv2d(normed, wt, b, 1, 1, 1, 1, 1);
        if (withResidual) {
            separate = be.add(separate, residual);
        }
        Tensor fused = be.groupNormConv2d(x, 8, gamma, beta, 1e-6f, true, wt, b, 1, residual, false);
        // the normalised rows are the same bits and the residual is added last: the same floats
        assertArrayEquals(separate.toFloatArray(), fused.toFloatArray(), "seed " + seed);
        double[] want = Conv2dTest.reference(normed.toFloatArray(), n, c, h, w, wt.toFloatArray(), 3, 3, 3,
                b.toFloatArray(), 1, 1, 1, 1, 1);
        if (withResidual) {
            float[] r = residual.toFloatArray();
            for (int i = 0; i < want.length; i++) {
                want[i] += r[i];
            }
            float[] before = residual.toFloatArray();
            Tensor scratch = residual.copy();
            Tensor inPlace = be.groupNormConv2d(x, 8, gamma, beta, 1e-6f, true, wt, b, 1, scratch, true);
            assertArrayEquals(fused.toFloatArray(), inPlace.toFloatArray());
            assertArrayEquals(before, residual.toFloatArray(), "a kept residual is left as it was");
        }
        GemmTest.assertClose(want, fused.toFloatArray(), c * 9, 1, "seed " + seed);
    }

    @Test
    void takesOnlyStrideOneAndFewChannels() {
        assertTrue(FewChannelConv.applies(Tensor.zeros(8, 4, 3, 3), 1));
        assertFalse(FewChannelConv.applies(Tensor.zeros(9, 4, 3, 3), 1));
        assertFalse(FewChannelConv.applies(Tensor.zeros(3, 4, 3, 3), 2));
    }

    @Test
    void badShapesAreNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Conv2d.conv2d(POOL1, Tensor.zeros(1, 5, 8, 8), Tensor.zeros(3, 4, 3, 3), null, 1, 1, 1, 1, 1));
        assertTrue(e.getMessage().startsWith("conv2d:") && e.getMessage().contains("[1, 5, 8, 8]")
                && e.getMessage().contains("[3, 4, 3, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Conv2d.conv2d(POOL1, Tensor.zeros(1, 4, 2, 2), Tensor.zeros(3, 4, 3, 3), null, 1, 0, 0, 0, 0));
        assertTrue(e.getMessage().contains("[3, 4, 3, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Conv2d.conv2d(POOL1, Tensor.zeros(1, 4, 8, 8), Tensor.zeros(3, 4, 3, 3), Tensor.zeros(2),
                        1, 1, 1, 1, 1));
        assertTrue(e.getMessage().contains("[2]"), e.getMessage());
    }
}
