package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The convolution's banded direct path and its fused prologues/epilogue against the separate ops. */
class FusedConvTest {
    private static final ComputePool POOL = new ComputePool(2);
    private static final CpuBackend CPU = new CpuBackend(POOL);
    /** The interface's defaults: the separate ops on the same kernels. */
    private static final Backend UNFUSED = new Backend() {
        @Override
        public String name() {
            return "unfused";
        }

        @Override
        public Tensor matmul(Tensor a, boolean ta, Tensor b, boolean tb) {
            return CPU.matmul(a, ta, b, tb);
        }

        @Override
        public Tensor linear(Tensor x, Tensor w, Tensor b) {
            return CPU.linear(x, w, b);
        }

        @Override
        public Tensor conv2d(Tensor x, Tensor w, Tensor b, int s, int pt, int pb, int pl, int pr) {
            return CPU.conv2d(x, w, b, s, pt, pb, pl, pr);
        }

        @Override
        public Tensor groupNorm(Tensor x, int g, Tensor gamma, Tensor beta, float eps, boolean silu) {
            return CPU.groupNorm(x, g, gamma, beta, eps, silu);
        }

        @Override
        public Tensor layerNorm(Tensor x, Tensor g, Tensor b, float eps) {
            return CPU.layerNorm(x, g, b, eps);
        }

        @Override
        public Tensor softmax(Tensor x) {
            return CPU.softmax(x);
        }

        @Override
        public Tensor silu(Tensor x) {
            return CPU.silu(x);
        }

        @Override
        public Tensor gelu(Tensor x, boolean tanh) {
            return CPU.gelu(x, tanh);
        }

        @Override
        public Tensor quickGelu(Tensor x) {
            return CPU.quickGelu(x);
        }

        @Override
        public Tensor geglu(Tensor x) {
            return CPU.geglu(x);
        }

        @Override
        public Tensor upsampleNearest(Tensor x, int h, int w) {
            return CPU.upsampleNearest(x, h, w);
        }

        @Override
        public Tensor add(Tensor a, Tensor b) {
            return CPU.add(a, b);
        }

        @Override
        public Tensor mul(Tensor a, Tensor b) {
            return CPU.mul(a, b);
        }

        @Override
        public Tensor scale(Tensor a, float s) {
            return CPU.scale(a, s);
        }

        @Override
        public Tensor concatChannels(Tensor a, Tensor b) {
            return CPU.concatChannels(a, b);
        }

        @Override
        public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, float scale, boolean causal) {
            return CPU.attention(q, k, v, heads, scale, causal);
        }

        @Override
        public Tensor transpose(Tensor x) {
            return CPU.transpose(x);
        }

        @Override
        public Tensor sliceChannels(Tensor x, int start, int length) {
            return CPU.sliceChannels(x, start, length);
        }
    };

    @AfterAll
    static void closePool() {
        POOL.close();
    }

    /** A fused convolution's operands: input, norm affine, weight, bias, and a residual or null. */
    private record Operands(Tensor x, Tensor gamma, Tensor beta, Tensor wt, Tensor b, Tensor residual) {
        static Operands random(Random rnd, int n, int c, int h, int w, int cout, int k, boolean withResidual) {
            Tensor x = FusedConvTest.random(rnd, 3f, n, c, h, w);
            Tensor gamma = FusedConvTest.random(rnd, 1f, c);
            Tensor beta = FusedConvTest.random(rnd, 0f, c);
            Tensor wt = FusedConvTest.random(rnd, 0f, cout, c, k, k);
            Tensor b = FusedConvTest.random(rnd, 0f, cout);
            return new Operands(x, gamma, beta, wt, b, withResidual ? FusedConvTest.random(rnd, 0f, n, cout, h, w) : null);
        }
    }

    private static Tensor random(Random rnd, float mean, int... dims) {
        int n = 1;
        for (int d : dims) {
            n *= d;
        }
        float[] a = GemmTest.random(rnd, n);
        for (int i = 0; i < n; i++) {
            a[i] += mean;
        }
        return Tensor.of(a, dims);
    }

    /** Bands of a few rows (small band budgets) give exactly the one-band result, which matches the reference. */
    @ParameterizedTest(name = "n={0} cin={1} {2}x{3} cout={4} bandFloats={5}")
    @CsvSource({
            "1, 3, 37, 32, 5, 600",
            "2, 4, 20, 64, 7, 1500",
            "1, 2, 9, 32, 3, 1",
            "1, 5, 64, 32, 33, 5000"})
    void bandsMatchOneBand(int n, int cin, int h, int w, int cout, long bandFloats) {
        Random rnd = new Random(17L * h + w + cout);
        Tensor x = random(rnd, 0f, n, cin, h, w);
        Tensor wt = random(rnd, 0f, cout, cin, 3, 3);
        Tensor b = random(rnd, 0f, cout);
        Tensor whole = Conv2d.conv2d(POOL, x, ConvRows.of(x), wt, b, 1, 1, 1, 1, 1, null, false, Long.MAX_VALUE);
        Tensor banded = Conv2d.conv2d(POOL, x, ConvRows.of(x), wt, b, 1, 1, 1, 1, 1, null, false, bandFloats);
        assertArrayEquals(whole.toFloatArray(), banded.toFloatArray());
        double[] want = Conv2dTest.reference(x.toFloatArray(), n, cin, h, w, wt.toFloatArray(), cout, 3, 3,
                b.toFloatArray(), 1, 1, 1, 1, 1);
        GemmTest.assertClose(want, banded.toFloatArray(), cin * 9, 1, "banded conv " + h + "x" + w);
    }

    /**
     * conv(SiLU(GroupNorm(x))) fused equals the separate ops exactly (the normalised rows are the same bits); with a
     * residual, within float rounding of one addition. Shapes cover the banded direct path, the joint batch path,
     * the im2col path (rows not whole vectors) and a 1×1 convolution.
     */
    @ParameterizedTest(name = "n={0} c={1} {2}x{3} cout={4} k={5} silu={6} residual={7}")
    @CsvSource({
            "1, 8, 24, 32, 6, 3, true, false",
            "1, 8, 24, 32, 6, 3, true, true",
            "2, 16, 16, 16, 12, 3, true, false",
            "2, 16, 16, 16, 12, 3, false, true",
            "1, 6, 13, 11, 5, 3, true, true",
            "2, 8, 7, 9, 10, 1, true, false",
            "2, 8, 40, 48, 10, 3, true, true",
            // through Winograd (asserted below)
            "2, 256, 16, 16, 256, 3, true, false",
            "2, 256, 16, 16, 256, 3, true, true"})
    void groupNormConvMatchesSeparateOps(int n, int c, int h, int w, int cout, int k, boolean silu, boolean withResidual) {
        Operands o = Operands.random(new Random(31L * c + h * 7L + w + k), n, c, h, w, cout, k, withResidual);
        Tensor x = o.x();
        Tensor gamma = o.gamma();
        Tensor beta = o.beta();
        Tensor wt = o.wt();
        Tensor b = o.b();
        Tensor residual = o.residual();
        int pad = k / 2;
        if (c >= 256) {
            assertTrue(Winograd.pays(ConvAlgorithm.AUTO, n, c, h, w, wt, b, 1, pad, pad, pad, pad), "takes Winograd");
        }
        Tensor want = UNFUSED.groupNormConv2d(x, 2, gamma, beta, 1e-5f, silu, wt, b, pad, residual, false);
        Tensor got = CPU.groupNormConv2d(x, 2, gamma, beta, 1e-5f, silu, wt, b, pad, residual, false);
        assertEquals(want.shape(), got.shape());
        float[] wa = want.toFloatArray();
        float[] ga = got.toFloatArray();
        if (!withResidual) {
            assertArrayEquals(wa, ga);
        } else {
            for (int i = 0; i < wa.length; i++) {
                assertEquals(wa[i], ga[i], 2 * Math.ulp(Math.abs(wa[i])) + 1e-6f, "element " + i);
            }
            // a scratch residual may hold the result; a kept one is left as it was
            float[] before = residual.toFloatArray();
            Tensor scratch = residual.copy();
            Tensor inPlace = CPU.groupNormConv2d(x, 2, gamma, beta, 1e-5f, silu, wt, b, pad, scratch, true);
            assertArrayEquals(ga, inPlace.toFloatArray());
            assertArrayEquals(before, residual.toFloatArray());
        }
    }

    /**
     * A per-image, per-channel addend (a ResNet block's time embedding) folded into the normalisation: the same as
     * adding it first and running the separate ops, on the direct path, the 1×1 path and Winograd.
     */
    @ParameterizedTest(name = "n={0} c={1} {2}x{3} cout={4} k={5} residual={6}")
    @CsvSource({
            "2, 8, 24, 32, 6, 3, false",
            "1, 6, 13, 11, 5, 3, true",
            "2, 8, 7, 9, 10, 1, true",
            "2, 256, 16, 16, 256, 3, true"})
    void channelAddendMatchesAddingItFirst(int n, int c, int h, int w, int cout, int k, boolean withResidual) {
        Random rnd = new Random(17L * c + h + k);
        Operands o = Operands.random(rnd, n, c, h, w, cout, k, withResidual);
        Tensor addend = random(rnd, -1f, n, c);
        int pad = k / 2;
        Tensor want = UNFUSED.groupNormConv2d(o.x(), addend, 2, o.gamma(), o.beta(), 1e-5f, true, o.wt(), o.b(), pad,
                o.residual(), false);
        Tensor got = CPU.groupNormConv2d(o.x(), addend, 2, o.gamma(), o.beta(), 1e-5f, true, o.wt(), o.b(), pad,
                o.residual(), false);
        assertEquals(want.shape(), got.shape());
        float[] wa = want.toFloatArray();
        float[] ga = got.toFloatArray();
        float max = 0;
        for (float v : wa) {
            max = Math.max(max, Math.abs(v));
        }
        // x + addend rounded to float (the separate ops) against the unrounded sum (fused): a few ulp of max |out|;
        // through Winograd, its own error (WinogradTest's bound), which differs between two slightly different inputs
        double tol = (c >= 256 && k == 3 ? 2e-5 : 2e-6) * max;
        for (int i = 0; i < wa.length; i++) {
            assertEquals(wa[i], ga[i], tol, "element " + i);
        }
        // without an addend, exactly the plain op
        assertArrayEquals(CPU.groupNormConv2d(o.x(), 2, o.gamma(), o.beta(), 1e-5f, true, o.wt(), o.b(), pad,
                o.residual(), false).toFloatArray(), CPU.groupNormConv2d(o.x(), null, 2, o.gamma(), o.beta(), 1e-5f,
                true, o.wt(), o.b(), pad, o.residual(), false).toFloatArray());
    }

    /**
     * An addend far larger than the spread of x: the normalised sum (read through an identity 1×1 convolution) keeps
     * the precision of x against a double-precision reference, where adding first in float would round the sum to
     * the addend's ulp (about 6e-5 at 1000, 6e-3 of the spread here).
     */
    @Test
    void largeChannelAddendKeepsPrecision() {
        int n = 2;
        int c = 8;
        int hw = 12 * 10;
        int groups = 2;
        Random rnd = new Random(23);
        float[] xa = new float[n * c * hw];
        for (int i = 0; i < xa.length; i++) {
            xa[i] = 0.5f + 0.01f * (float) rnd.nextGaussian();
        }
        float[] aa = new float[n * c];
        for (int i = 0; i < aa.length; i++) {
            aa[i] = 1000f + 0.01f * (float) rnd.nextGaussian();
        }
        float[] id = new float[c * c];
        for (int i = 0; i < c; i++) {
            id[i * c + i] = 1f;
        }
        Tensor got = CPU.groupNormConv2d(Tensor.of(xa, n, c, 12, 10), Tensor.of(aa, n, c), groups, null, null, 1e-5f,
                false, Tensor.of(id, c, c, 1, 1), null, 0, null, false);
        float[] ga = got.toFloatArray();
        int cpg = c / groups;
        for (int img = 0; img < n; img++) {
            for (int g = 0; g < groups; g++) {
                double sum = 0;
                for (int ch = g * cpg; ch < (g + 1) * cpg; ch++) {
                    for (int p = 0; p < hw; p++) {
                        sum += (double) xa[(img * c + ch) * hw + p] + aa[img * c + ch];
                    }
                }
                double mean = sum / (cpg * hw);
                double sq = 0;
                for (int ch = g * cpg; ch < (g + 1) * cpg; ch++) {
                    for (int p = 0; p < hw; p++) {
                        double dv = (double) xa[(img * c + ch) * hw + p] + aa[img * c + ch] - mean;
                        sq += dv * dv;
                    }
                }
                double rstd = 1 / Math.sqrt(sq / (cpg * hw) + 1e-5);
                for (int ch = g * cpg; ch < (g + 1) * cpg; ch++) {
                    for (int p = 0; p < hw; p++) {
                        int i = (img * c + ch) * hw + p;
                        double want = ((double) xa[i] + aa[img * c + ch] - mean) * rstd;
                        assertEquals(want, ga[i], 2e-5, "image " + img + " channel " + ch + " pixel " + p);
                    }
                }
            }
        }
    }

    /**
     * The input given up as its own residual, on a map large enough for several bands of the direct path: every band
     * still reads the input as it was (the output goes elsewhere), so the result is the one with a separate residual.
     */
    @Test
    void inputAsItsOwnScratchResidual() {
        Random rnd = new Random(5);
        Tensor x = random(rnd, 3f, 1, 32, 384, 384);
        Tensor gamma = random(rnd, 1f, 32);
        Tensor beta = random(rnd, 0f, 32);
        Tensor wt = random(rnd, 0f, 32, 32, 3, 3);
        Tensor b = random(rnd, 0f, 32);
        Tensor want = CPU.groupNormConv2d(x, 2, gamma, beta, 1e-5f, true, wt, b, 1, x.copy(), false);
        Tensor given = x.copy();
        Tensor got = CPU.groupNormConv2d(given, 2, gamma, beta, 1e-5f, true, wt, b, 1, given, true);
        assertArrayEquals(want.toFloatArray(), got.toFloatArray());
    }

    @ParameterizedTest(name = "n={0} c={1} {2}x{3} -> {4}x{5}")
    @CsvSource({
            "1, 5, 8, 16, 16, 32",
            "2, 4, 8, 8, 16, 16",
            "1, 3, 5, 7, 10, 14",
            "1, 3, 5, 7, 11, 13"})
    void upsampleConvMatchesSeparateOps(int n, int c, int h, int w, int outH, int outW) {
        Random rnd = new Random(7L * h + outW);
        Tensor x = random(rnd, 0f, n, c, h, w);
        Tensor wt = random(rnd, 0f, 6, c, 3, 3);
        Tensor b = random(rnd, 0f, 6);
        Tensor want = UNFUSED.upsampleConv2d(x, outH, outW, wt, b, 1);
        Tensor got = CPU.upsampleConv2d(x, outH, outW, wt, b, 1);
        assertEquals(want.shape(), got.shape());
        assertArrayEquals(want.toFloatArray(), got.toFloatArray());
    }

    @Test
    void badInputIsNamed() {
        Tensor x = Tensor.zeros(1, 4, 8, 8);
        Tensor g = Tensor.zeros(4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CPU.groupNormConv2d(x, 3, g, g, 1e-5f, true, Tensor.zeros(2, 4, 3, 3), null, 1, null, false));
        assertTrue(e.getMessage().contains("groups=3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.groupNormConv2d(x, 2, g, g, 1e-5f, true, Tensor.zeros(2, 5, 3, 3), null, 1, null, false));
        assertTrue(e.getMessage().contains("[2, 5, 3, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.groupNormConv2d(x, 2, g, g, 1e-5f, true, Tensor.zeros(2, 4, 3, 3), null, 1, Tensor.zeros(1, 2, 8, 7), false));
        assertTrue(e.getMessage().contains("residual [1, 2, 8, 7]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.groupNormConv2d(x, Tensor.zeros(1, 3), 2, g, g, 1e-5f, true, Tensor.zeros(2, 4, 3, 3), null, 1,
                        null, false));
        assertTrue(e.getMessage().contains("channelAddend [1, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.upsampleConv2d(Tensor.zeros(1, 4, 8), 16, 16, Tensor.zeros(2, 4, 3, 3), null, 1));
        assertTrue(e.getMessage().contains("upsampleConv2d"), e.getMessage());
    }
}
