package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Winograd F(2×2, 3×3) against a double-precision direct convolution ({@link Conv2dTest#reference}) and the
 * implicit-GEMM path; errors relative to the output scale as in {@link WinogradTest}.
 */
class WinogradF2Test {
    private static final ComputePool POOL1 = new ComputePool(1);
    private static final ComputePool POOL2 = new ComputePool(2);
    /**
     * Bound of {@code max |got - want| / max |want|}: F(2,3) multiplies by 0, ±1, ±1/2 only; measured 2e-7…4e-7 for
     * Cin 64…2560 (the direct path 3e-7…4e-7; see {@link #errorAtModelSizes}).
     */
    private static final double REL = 2e-6;

    @AfterAll
    static void closePools() {
        POOL1.close();
        POOL2.close();
    }

    @ParameterizedTest(name = "n={0} cin={1} {2}x{3} cout={4} bias={5} residual={6}")
    @CsvSource({
            "1, 1, 2, 2, 1, false, false",
            "2, 3, 4, 6, 5, true, false",
            "2, 7, 8, 8, 13, true, true",
            "3, 20, 6, 2, 30, false, true",
            // several input channel blocks (on gather groups) and a partial last panel of output channels
            "2, 530, 8, 8, 50, true, true",
            // tiles past the last whole panel (37 of 64)
            "1, 9, 10, 30, 17, true, false",
    })
    void matchesDoubleReference(int n, int cin, int h, int w, int cout, boolean withBias, boolean withResidual) {
        long seed = 1000L * cin + 31L * h + w;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = Reference.gaussian(rnd, n * cin * h * w, 0, 1);
        float[] wt = Reference.gaussian(rnd, cout * cin * 9, 0, 1 / Math.sqrt(9.0 * cin));
        float[] bias = withBias ? Reference.gaussian(rnd, cout, 0, 1) : null;
        float[] residual = withResidual ? Reference.gaussian(rnd, n * cout * h * w, 0, 1) : null;
        double[] want = Conv2dTest.reference(x, n, cin, h, w, wt, cout, 3, 3, bias, 1, 1, 1, 1, 1);
        if (residual != null) {
            want = WinogradTest.plus(want, residual);
        }
        for (ComputePool pool : new ComputePool[] {POOL1, POOL2}) {
            Tensor y = WinogradF2.conv3x3(pool, ConvRows.of(Tensor.of(x, n, cin, h, w)), Tensor.of(wt, cout, cin, 3, 3),
                    bias == null ? null : Tensor.of(bias, cout),
                    residual == null ? null : Tensor.of(residual, n, cout, h, w));
            assertEquals(List.of(n, cout, h, w), List.of(y.dim(0), y.dim(1), y.dim(2), y.dim(3)));
            double rel = WinogradTest.relError(want, y.toFloatArray());
            assertTrue(rel <= REL, "seed " + seed + " threads " + pool.threads() + ": relative error " + rel);
        }
    }

    /** The U-Net's 8×8 shapes (few output channels) against double precision; the error is printed for the record. */
    @ParameterizedTest(name = "cin={0} n={1}")
    @CsvSource({"1280, 2", "2560, 2", "64, 2"})
    void errorAtModelSizes(int cin, int n) {
        int cout = 14;
        int h = 8;
        int w = 8;
        long seed = 7L * cin + n;
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = Reference.gaussian(rnd, n * cin * h * w, 0, 1);
        float[] wt = Reference.gaussian(rnd, cout * cin * 9, 0, 1 / Math.sqrt(9.0 * cin));
        float[] bias = Reference.gaussian(rnd, cout, 0, 1);
        double[] want = Conv2dTest.reference(x, n, cin, h, w, wt, cout, 3, 3, bias, 1, 1, 1, 1, 1);
        Tensor xt = Tensor.of(x, n, cin, h, w);
        Tensor wtt = Tensor.of(wt, cout, cin, 3, 3);
        Tensor bt = Tensor.of(bias, cout);
        float[] f2 = WinogradF2.conv3x3(POOL2, ConvRows.of(xt), wtt, bt, null).toFloatArray();
        float[] direct = Conv2d.conv2d(POOL2, ConvAlgorithm.DIRECT, xt, wtt, bt, 1, 1, 1, 1, 1).toFloatArray();
        double relF2 = WinogradTest.relError(want, f2);
        double relDirect = WinogradTest.relError(want, direct);
        System.out.printf(Locale.ROOT, "winograd F(2,3) cin=%d 8x8 n=%d: max error / max |out|: F(2,3) %.2e, direct"
                + " %.2e%n", cin, n, relF2, relDirect);
        assertTrue(relF2 <= REL, "seed " + seed + ": F(2,3) relative error " + relF2);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"F16", "BF16", "F32"})
    void segmentWeightsAndBias(DType dtype) {
        long seed = 191 + dtype.ordinal();
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = 2;
        int cin = 70;
        int cout = 30;
        float[] x = Reference.gaussian(rnd, n * cin * 64, 0, 1);
        float[] wt = Reference.gaussian(rnd, cout * cin * 9, 0, 1 / Math.sqrt(9.0 * cin));
        float[] bias = Reference.gaussian(rnd, cout, 0, 1);
        double[] want = Conv2dTest.reference(x, n, cin, 8, 8, GemmTest.rounded(wt, dtype), cout, 3, 3,
                GemmTest.rounded(bias, dtype), 1, 1, 1, 1, 1);
        try (Arena arena = Arena.ofConfined()) {
            Tensor y = WinogradF2.conv3x3(POOL2, ConvRows.of(Tensor.of(x, n, cin, 8, 8)),
                    GemmTest.segment(arena, wt, dtype, cout, cin, 3, 3), GemmTest.segment(arena, bias, dtype, cout),
                    null);
            double rel = WinogradTest.relError(want, y.toFloatArray());
            assertTrue(rel <= REL, "seed " + seed + " " + dtype + ": " + rel);
        }
    }

    /** The backend takes this path at the U-Net's 8×8 level with a guided batch, not elsewhere. */
    @Test
    void paysOnlyOnSmallMapsWithWholePanels() {
        Tensor w1280 = Tensor.zeros(1280, 1280, 3, 3);
        assertTrue(WinogradF2.pays(ConvAlgorithm.AUTO, 2, 1280, 8, 8, w1280, null, 1, 1, 1, 1, 1));
        assertFalse(WinogradF2.pays(ConvAlgorithm.DIRECT, 2, 1280, 8, 8, w1280, null, 1, 1, 1, 1, 1));
        // batch 1: 16 tiles, half a GEMM panel
        assertFalse(WinogradF2.pays(ConvAlgorithm.AUTO, 1, 1280, 8, 8, w1280, null, 1, 1, 1, 1, 1));
        assertFalse(WinogradF2.pays(ConvAlgorithm.AUTO, 2, 1280, 16, 16, w1280, null, 1, 1, 1, 1, 1));
        assertFalse(WinogradF2.pays(ConvAlgorithm.AUTO, 2, 1280, 8, 8, w1280, null, 2, 1, 1, 1, 1));
        assertFalse(WinogradF2.pays(ConvAlgorithm.AUTO, 2, 1280, 8, 8, w1280, null, 1, 0, 0, 0, 0));
        Tensor w64 = Tensor.zeros(64, 64, 3, 3);
        assertFalse(WinogradF2.pays(ConvAlgorithm.AUTO, 2, 64, 8, 8, w64, null, 1, 1, 1, 1, 1));
    }

    /** Through the backend: the 8×8 level of a guided U-Net step matches the direct path. */
    @Test
    void backendUsesItAtTheUNetsSmallestLevel() {
        SplittableRandom rnd = new SplittableRandom(5);
        int n = 2;
        int c = 256;
        float[] x = Reference.gaussian(rnd, n * c * 64, 0, 1);
        float[] wt = Reference.gaussian(rnd, c * c * 9, 0, 1 / Math.sqrt(9.0 * c));
        float[] bias = Reference.gaussian(rnd, c, 0, 1);
        Tensor xt = Tensor.of(x, n, c, 8, 8);
        Tensor wtt = Tensor.of(wt, c, c, 3, 3);
        Tensor bt = Tensor.of(bias, c);
        float[] a = new CpuBackend(POOL2).conv2d(xt, wtt, bt, 1, 1).toFloatArray();
        float[] d = new CpuBackend(POOL2, ConvAlgorithm.DIRECT).conv2d(xt, wtt, bt, 1, 1).toFloatArray();
        double rel = WinogradTest.relError(WinogradTest.toDouble(d), a);
        assertTrue(rel <= REL, "relative difference " + rel);
        assertTrue(rel > 0, "AUTO and DIRECT gave bit-identical results: F(2,3) was not used");
    }

    @Test
    void rejectsOddMapsAndMismatchedResidual() {
        Tensor w = Tensor.zeros(4, 3, 3, 3);
        assertThrows(IllegalArgumentException.class,
                () -> WinogradF2.conv3x3(POOL1, ConvRows.of(Tensor.zeros(1, 3, 5, 4)), w, null, null));
        assertThrows(IllegalArgumentException.class,
                () -> WinogradF2.conv3x3(POOL1, ConvRows.of(Tensor.zeros(1, 3, 4, 4)), w, null,
                        Tensor.zeros(1, 4, 4, 2)));
        assertThrows(IllegalArgumentException.class,
                () -> WinogradF2.conv3x3(POOL1, ConvRows.of(Tensor.zeros(1, 2, 4, 4)), w, null, null));
    }
}
