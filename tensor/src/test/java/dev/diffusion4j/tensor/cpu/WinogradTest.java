package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Winograd F(4,3) against a double-precision direct convolution ({@link Conv2dTest#reference}) and against the
 * implicit-GEMM path. Errors are stated relative to the output scale, {@code max |want|}: inputs N(0, 1),
 * weights N(0, 1/(9·Cin)) (the scale of trained and initialised kernels), bias N(0, 1).
 */
class WinogradTest {
    private static final ComputePool POOL1 = new ComputePool(1);
    private static final ComputePool POOL2 = new ComputePool(2);
    /**
     * Bound of {@code max |got - want| / max |want|} (F(4,3) in float32; measured 7e-6…1.1e-5 for Cin 128…2560, the
     * direct path 2e-7…5e-7; see {@link #errorAtModelSizes}).
     */
    private static final double REL = 2e-5;

    @AfterAll
    static void closePools() {
        POOL1.close();
        POOL2.close();
    }

    /** max |got - want| / max |want|. */
    static double relError(double[] want, float[] got) {
        double scale = 0;
        double err = 0;
        for (int i = 0; i < want.length; i++) {
            scale = Math.max(scale, Math.abs(want[i]));
            double e = Math.abs(got[i] - want[i]);
            err = Double.isNaN(e) ? Double.POSITIVE_INFINITY : Math.max(err, e);
        }
        return err / scale;
    }

    static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    static double[] plus(double[] a, float[] b) {
        double[] r = a.clone();
        for (int i = 0; i < r.length; i++) {
            r[i] += b[i];
        }
        return r;
    }

    @ParameterizedTest(name = "n={0} cin={1} {2}x{3} cout={4} pad=({5},{6},{7},{8}) bias={9} residual={10}")
    @CsvSource({
            "1, 1, 1, 1, 1, 1, 1, 1, 1, false, false",
            "1, 3, 4, 4, 2, 1, 1, 1, 1, true, false",
            "2, 7, 13, 11, 17, 1, 1, 1, 1, true, true",
            "3, 5, 6, 70, 13, 1, 1, 1, 1, false, true",
            "1, 9, 37, 35, 27, 1, 1, 1, 1, true, false",
            "2, 16, 16, 16, 24, 1, 1, 1, 1, true, true",
            "1, 20, 19, 21, 12, 0, 0, 0, 0, true, false",
            "1, 6, 9, 10, 5, 2, 0, 1, 2, true, true",
            "1, 4, 3, 3, 4, 2, 2, 2, 2, false, false",
            "2, 33, 8, 8, 40, 1, 1, 1, 1, true, false",
            "1, 17, 5, 131, 3, 1, 1, 1, 1, true, true",
            "1, 330, 9, 7, 14, 1, 1, 1, 1, true, false",
            "2, 64, 24, 20, 100, 1, 1, 0, 2, true, true",
            // wider than one band: one tile row per band
            "1, 8, 6, 2101, 5, 1, 1, 1, 1, true, true",
    })
    void matchesDoubleReference(int n, int cin, int h, int w, int cout, int pt, int pb, int pl, int pr,
                                boolean withBias, boolean withResidual) {
        long seed = 1000L * cin + 31L * h + w;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = Reference.gaussian(rnd, n * cin * h * w, 0, 1);
        float[] wt = Reference.gaussian(rnd, cout * cin * 9, 0, 1 / Math.sqrt(9.0 * cin));
        float[] bias = withBias ? Reference.gaussian(rnd, cout, 0, 1) : null;
        int ho = h + pt + pb - 2;
        int wo = w + pl + pr - 2;
        float[] residual = withResidual ? Reference.gaussian(rnd, n * cout * ho * wo, 0, 1) : null;
        double[] want = Conv2dTest.reference(x, n, cin, h, w, wt, cout, 3, 3, bias, 1, pt, pb, pl, pr);
        if (residual != null) {
            want = plus(want, residual);
        }
        for (ComputePool pool : new ComputePool[] {POOL1, POOL2}) {
            Tensor y = Winograd.conv3x3(pool, Tensor.of(x, n, cin, h, w), Tensor.of(wt, cout, cin, 3, 3),
                    bias == null ? null : Tensor.of(bias, cout), residual == null ? null : Tensor.of(residual, n, cout, ho, wo),
                    pt, pb, pl, pr);
            assertEquals(java.util.List.of(n, cout, ho, wo), java.util.List.of(y.dim(0), y.dim(1), y.dim(2), y.dim(3)));
            double rel = relError(want, y.toFloatArray());
            assertTrue(rel <= REL, "seed " + seed + " threads " + pool.threads() + ": relative error " + rel);
        }
    }

    /**
     * U-Net / VAE channel counts (the K of the 36 GEMMs, which sets the error): a few output channels against
     * double precision; the error is printed for the record.
     */
    @ParameterizedTest(name = "cin={0} {1}x{2} n={3}")
    @CsvSource({"320, 64, 64, 2", "640, 32, 32, 2", "1280, 16, 16, 2", "2560, 16, 16, 1", "128, 100, 96, 1",
            "512, 32, 32, 1"})
    void errorAtModelSizes(int cin, int h, int w, int n) {
        int cout = 14;
        long seed = 7L * cin + h;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = Reference.gaussian(rnd, n * cin * h * w, 0, 1);
        float[] wt = Reference.gaussian(rnd, cout * cin * 9, 0, 1 / Math.sqrt(9.0 * cin));
        float[] bias = Reference.gaussian(rnd, cout, 0, 1);
        double[] want = Conv2dTest.reference(x, n, cin, h, w, wt, cout, 3, 3, bias, 1, 1, 1, 1, 1);
        Tensor xt = Tensor.of(x, n, cin, h, w);
        Tensor wtt = Tensor.of(wt, cout, cin, 3, 3);
        Tensor bt = Tensor.of(bias, cout);
        float[] win = Winograd.conv3x3(POOL2, xt, wtt, bt, null, 1, 1, 1, 1).toFloatArray();
        float[] direct = Conv2d.conv2d(POOL2, ConvAlgorithm.DIRECT, xt, wtt, bt, 1, 1, 1, 1, 1).toFloatArray();
        double relWin = relError(want, win);
        double relDirect = relError(want, direct);
        double relBetween = relError(toDouble(direct), win);
        System.out.printf(Locale.ROOT, "winograd cin=%d %dx%d n=%d: max error / max |out|: winograd %.2e, direct %.2e,"
                + " winograd vs direct %.2e%n", cin, h, w, n, relWin, relDirect, relBetween);
        assertTrue(relWin <= REL, "seed " + seed + ": winograd relative error " + relWin);
        assertTrue(relBetween <= REL, "seed " + seed + ": winograd vs direct " + relBetween);
    }

    /** Whole output at a U-Net size against the direct path (a double reference would take too long). */
    @Test
    void matchesDirectPathAtUNetSize() {
        long seed = 42;
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = 2;
        int c = 320;
        int h = 32;
        int w = 40;
        float[] x = Reference.gaussian(rnd, n * c * h * w, 0, 1);
        float[] wt = Reference.gaussian(rnd, c * c * 9, 0, 1 / Math.sqrt(9.0 * c));
        float[] bias = Reference.gaussian(rnd, c, 0, 1);
        Tensor xt = Tensor.of(x, n, c, h, w);
        Tensor wtt = Tensor.of(wt, c, c, 3, 3);
        Tensor bt = Tensor.of(bias, c);
        CpuBackend auto = new CpuBackend(POOL2);
        CpuBackend direct = new CpuBackend(POOL2, ConvAlgorithm.DIRECT);
        float[] a = auto.conv2d(xt, wtt, bt, 1, 1).toFloatArray();
        float[] d = direct.conv2d(xt, wtt, bt, 1, 1).toFloatArray();
        double rel = relError(toDouble(d), a);
        assertTrue(rel <= REL, "seed " + seed + ": relative difference " + rel);
        // The two paths round differently: AUTO really took the Winograd path here, DIRECT did not.
        assertTrue(rel > 0, "AUTO and DIRECT gave bit-identical results: Winograd was not used");
    }

    /**
     * A chunk whose transformed input passes {@link Winograd#DEEP_V_FLOATS} (36 positions × 1024 channels × 256 tiles)
     * takes blocks of 8 panels: 120 output channels in two blocks instead of three; against the direct path.
     */
    @Test
    void deepTransformedInputMatchesDirectPath() {
        long seed = 43;
        SplittableRandom rnd = new SplittableRandom(seed);
        int cin = 1024;
        int cout = 120;
        int side = 64;
        assertTrue(36L * cin * 256 > Winograd.DEEP_V_FLOATS, "the case must pass the threshold");
        float[] x = Reference.gaussian(rnd, cin * side * side, 0, 1);
        float[] wt = Reference.gaussian(rnd, cout * cin * 9, 0, 1 / Math.sqrt(9.0 * cin));
        float[] bias = Reference.gaussian(rnd, cout, 0, 1);
        Tensor xt = Tensor.of(x, 1, cin, side, side);
        Tensor wtt = Tensor.of(wt, cout, cin, 3, 3);
        Tensor bt = Tensor.of(bias, cout);
        float[] d = Conv2d.conv2d(POOL2, ConvAlgorithm.DIRECT, xt, wtt, bt, 1, 1, 1, 1, 1).toFloatArray();
        for (ComputePool pool : new ComputePool[] {POOL1, POOL2}) {
            float[] win = Winograd.conv3x3(pool, xt, wtt, bt, null, 1, 1, 1, 1).toFloatArray();
            double rel = relError(toDouble(d), win);
            assertTrue(rel <= REL, "seed " + seed + " threads " + pool.threads() + ": relative difference " + rel);
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"F16", "BF16", "F32"})
    void segmentWeightsAndBias(DType dtype) {
        long seed = 91 + dtype.ordinal();
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = 2;
        int cin = 70;
        int h = 18;
        int w = 21;
        int cout = 30;
        float[] x = Reference.gaussian(rnd, n * cin * h * w, 0, 1);
        float[] wt = Reference.gaussian(rnd, cout * cin * 9, 0, 1 / Math.sqrt(9.0 * cin));
        float[] bias = Reference.gaussian(rnd, cout, 0, 1);
        double[] want = Conv2dTest.reference(x, n, cin, h, w, GemmTest.rounded(wt, dtype), cout, 3, 3,
                GemmTest.rounded(bias, dtype), 1, 1, 1, 1, 1);
        for (boolean confined : new boolean[] {true, false}) {
            try (Arena arena = confined ? Arena.ofConfined() : Arena.ofShared()) {
                Tensor y = Winograd.conv3x3(POOL2, Tensor.of(x, n, cin, h, w),
                        GemmTest.segment(arena, wt, dtype, cout, cin, 3, 3), GemmTest.segment(arena, bias, dtype, cout),
                        null, 1, 1, 1, 1);
                double rel = relError(want, y.toFloatArray());
                assertTrue(rel <= REL, "seed " + seed + " " + dtype + " confined " + confined + ": " + rel);
            }
        }
    }

    /**
     * The schedules with small limits: several bands (the weights transformed once for all of them, or again per
     * band when several groups of output channels take turns), chunks of tiles that start and end inside a tile row,
     * input channel blocks of the weight transform that start on gather groups ({@code cin} 700: 232, 232, 236), and
     * the fused one-chunk schedule, and the schedule of large maps (at least 128×128 outputs); against a double
     * reference, on 1 and 2 threads.
     */
    @ParameterizedTest(name = "n={0} cin={1} {2}x{3} cout={4} band={5} chunk={6} uPanels={7}")
    @CsvSource({
            "2, 37, 20, 30, 50, 64, 32, 2",   // 3 groups of 2 panels, several bands and chunks
            "1, 37, 20, 30, 50, 64, 32, 100", // one group: U made once, for the first band
            "1, 9, 9, 150, 26, 40, 32, 1",    // chunks inside a tile row, one panel per group
            "2, 700, 12, 12, 30, 16, 32, 1",  // three input channel blocks; bands of 16 tiles
            "1, 700, 10, 14, 30, 512, 128, 1", // fused (one band, one chunk), three input channel blocks
            "1, 8, 130, 127, 140, 512, 256, 100", // a large map: blocks of up to 12 panels, the last partial; chunks of 128
            "1, 20, 128, 128, 30, 256, 256, 2",   // a large map with groups of 2 panels
            "2, 12, 64, 66, 110, 512, 256, 100",  // a 64×64-level map of two images: blocks of 8 panels, chunks of 128
    })
    void schedulesMatchDoubleReference(int n, int cin, int h, int w, int cout, int band, int chunk, int uPanels) {
        long seed = 77L * cin + 13L * w + band + uPanels;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = Reference.gaussian(rnd, n * cin * h * w, 0, 1);
        float[] wt = Reference.gaussian(rnd, cout * cin * 9, 0, 1 / Math.sqrt(9.0 * cin));
        float[] bias = Reference.gaussian(rnd, cout, 0, 1);
        float[] residual = Reference.gaussian(rnd, n * cout * h * w, 0, 1);
        double[] want = plus(Conv2dTest.reference(x, n, cin, h, w, wt, cout, 3, 3, bias, 1, 1, 1, 1, 1), residual);
        int uBudget = 36 * ((cin + 3) / 4 * 4) * 12 * uPanels;
        for (ComputePool pool : new ComputePool[] {POOL1, POOL2}) {
            Tensor y = Winograd.conv3x3(pool, ConvRows.of(Tensor.of(x, n, cin, h, w)), Tensor.of(wt, cout, cin, 3, 3),
                    Tensor.of(bias, cout), Tensor.of(residual, n, cout, h, w), false, 1, 1, 1, 1, band, chunk, uBudget);
            double rel = relError(want, y.toFloatArray());
            assertTrue(rel <= REL, "seed " + seed + " threads " + pool.threads() + ": relative error " + rel);
        }
    }

    /** The input is read only through {@link ConvRows}: a generated input (never a tensor) gives the same result. */
    @Test
    void readsInputThroughConvRows() {
        int n = 2;
        int cin = 5;
        int h = 11;
        int w = 9;
        int cout = 7;
        long seed = 5;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = Reference.gaussian(rnd, n * cin * h * w, 0, 1);
        float[] wt = Reference.gaussian(rnd, cout * cin * 9, 0, 0.2);
        AtomicInteger calls = new AtomicInteger();
        ConvRows rows = new ConvRows() {
            @Override
            public int batch() {
                return n;
            }

            @Override
            public int channels() {
                return cin;
            }

            @Override
            public int height() {
                return h;
            }

            @Override
            public int width() {
                return w;
            }

            @Override
            public void row(int img, int c, int y, float[] dst, int off) {
                calls.incrementAndGet();
                System.arraycopy(x, ((img * cin + c) * h + y) * w, dst, off, w);
            }
        };
        Tensor y = Winograd.conv3x3(POOL2, rows, Tensor.of(wt, cout, cin, 3, 3), null, null, false, 1, 1, 1, 1);
        double rel = relError(Conv2dTest.reference(x, n, cin, h, w, wt, cout, 3, 3, null, 1, 1, 1, 1, 1),
                y.toFloatArray());
        assertTrue(rel <= REL, "seed " + seed + ": " + rel);
        assertTrue(calls.get() >= n * cin * h, "rows read " + calls.get());
    }

    @Test
    void paysOnlyForLargeStrideOneThreeByThree() {
        Tensor x = Tensor.zeros(1, 320, 64, 64);
        Tensor w = Tensor.zeros(320, 320, 3, 3);
        assertTrue(Winograd.pays(ConvAlgorithm.AUTO, x, w, null, 1, 1, 1, 1, 1));
        assertFalse(Winograd.pays(ConvAlgorithm.DIRECT, x, w, null, 1, 1, 1, 1, 1));
        assertFalse(Winograd.pays(ConvAlgorithm.AUTO, x, w, null, 2, 1, 1, 1, 1));
        assertFalse(Winograd.pays(ConvAlgorithm.AUTO, x, w, null, 1, 3, 3, 3, 3));
        assertFalse(Winograd.pays(ConvAlgorithm.AUTO, x, Tensor.zeros(320, 320, 1, 1), null, 1, 0, 0, 0, 0));
        assertFalse(Winograd.pays(ConvAlgorithm.AUTO, Tensor.zeros(1, 1280, 8, 8), Tensor.zeros(1280, 1280, 3, 3),
                null, 1, 1, 1, 1, 1));
        assertFalse(Winograd.pays(ConvAlgorithm.AUTO, x, w, Tensor.zeros(3), 1, 1, 1, 1, 1));
        // 16x16 with 1280 channels: batch 2 (32 tiles) yes, batch 1 (16 tiles) no.
        Tensor w1280 = Tensor.zeros(1280, 1280, 3, 3);
        assertTrue(Winograd.pays(ConvAlgorithm.AUTO, Tensor.zeros(2, 1280, 16, 16), w1280, null, 1, 1, 1, 1, 1));
        assertFalse(Winograd.pays(ConvAlgorithm.AUTO, Tensor.zeros(1, 1280, 16, 16), w1280, null, 1, 1, 1, 1, 1));
        // 128 channels only on big maps (the VAE's 512x512 level); 64 channels never.
        Tensor w128 = Tensor.zeros(128, 128, 3, 3);
        assertTrue(Winograd.pays(ConvAlgorithm.AUTO, Tensor.zeros(1, 128, 512, 512), w128, null, 1, 1, 1, 1, 1));
        assertFalse(Winograd.pays(ConvAlgorithm.AUTO, Tensor.zeros(1, 128, 64, 64), w128, null, 1, 1, 1, 1, 1));
        assertFalse(Winograd.pays(ConvAlgorithm.AUTO, Tensor.zeros(1, 64, 512, 512), Tensor.zeros(64, 64, 3, 3), null,
                1, 1, 1, 1, 1));
    }

    @Test
    void badInputIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Winograd.conv3x3(POOL1, Tensor.zeros(1, 3, 8, 8), Tensor.zeros(4, 2, 3, 3), null, null, 1, 1, 1, 1));
        assertTrue(e.getMessage().startsWith("winograd conv3x3:") && e.getMessage().contains("[1, 3, 8, 8]")
                && e.getMessage().contains("[4, 2, 3, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Winograd.conv3x3(POOL1, Tensor.zeros(1, 3, 8, 8), Tensor.zeros(4, 3, 5, 5), null, null, 1, 1, 1, 1));
        assertTrue(e.getMessage().contains("[4, 3, 5, 5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Winograd.conv3x3(POOL1, Tensor.zeros(1, 3, 8, 8), Tensor.zeros(4, 3, 3, 3), Tensor.zeros(5), null,
                        1, 1, 1, 1));
        assertTrue(e.getMessage().contains("bias [5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Winograd.conv3x3(POOL1, Tensor.zeros(1, 3, 8, 8), Tensor.zeros(4, 3, 3, 3), null,
                        Tensor.zeros(1, 4, 8, 7), 1, 1, 1, 1));
        assertTrue(e.getMessage().contains("residual") && e.getMessage().contains("[1, 4, 8, 7]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Winograd.conv3x3(POOL1, Tensor.zeros(1, 3, 8, 8), Tensor.zeros(4, 3, 3, 3), null, null, 1, -1, 1, 1));
        assertTrue(e.getMessage().contains("padding"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Winograd.conv3x3(POOL1, Tensor.zeros(1, 3, 1, 8), Tensor.zeros(4, 3, 3, 3), null, null, 0, 0, 1, 1));
        assertTrue(e.getMessage().contains("empty"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Winograd.conv3x3(POOL1, Tensor.zeros(3, 8, 8), Tensor.zeros(4, 3, 3, 3), null, null, 1, 1, 1, 1));
        assertTrue(e.getMessage().contains("[3, 8, 8]"), e.getMessage());
    }
}
