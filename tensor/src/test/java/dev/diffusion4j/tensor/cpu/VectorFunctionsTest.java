package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.function.UnaryOperator;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

class VectorFunctionsTest {
    private static float[] apply(UnaryOperator<FloatVector> f, float[] x) {
        int l = VectorFunctions.SPECIES.length();
        float[] in = java.util.Arrays.copyOf(x, (x.length + l - 1) / l * l);
        float[] out = new float[in.length];
        for (int i = 0; i < in.length; i += l) {
            f.apply(FloatVector.fromArray(VectorFunctions.SPECIES, in, i)).intoArray(out, i);
        }
        return java.util.Arrays.copyOf(out, x.length);
    }

    /** {@code n} evenly spaced points from {@code lo} to {@code hi}, both included. */
    private static float[] grid(float lo, float hi, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = lo + (hi - lo) * i / (n - 1);
        }
        return x;
    }

    /** Error in units of the float ulp of the exact value. */
    private static double ulps(float got, double want) {
        return Math.abs(got - want) / Math.ulp((float) want);
    }

    @Test
    void referenceErfIsRight() {
        assertEquals(0.8427007929497149, Reference.erf(1), 1e-15);
        assertEquals(0.9953222650189527, Reference.erf(2), 1e-15);
        assertEquals(-0.9999779095030014, Reference.erf(-3), 1e-15);
        assertEquals(0.1124629160182849, Reference.erf(0.1), 1e-15);
    }

    @Test
    void expWithinTwoUlpOverTheNormalRange() {
        long seed = System.nanoTime();
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = 1 << 20;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = i < n / 2 ? (float) rnd.nextDouble(-87.33, 88.72) : (float) rnd.nextDouble(-2, 2);
        }
        float[] y = apply(VectorFunctions::exp, x);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double u = ulps(y[i], Math.exp(x[i]));
            worst = Math.max(worst, u);
            int ii = i;
            assertTrue(u <= 2, () -> "seed " + seed + ": exp(" + x[ii] + ") = " + y[ii] + " vs " + Math.exp(x[ii]) + ", " + u + " ulp");
        }
        System.out.println("VectorFunctions.exp worst error " + worst + " ulp");
    }

    @Test
    void expEdges() {
        float[] x = {0f, -0f, 1f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 88.72f, 88.7229f, 89f,
                -87.33f, -87.34f, -100f, -1e30f, 1e30f, 1e-30f, Math.nextDown(88.72284f), -87.3365f};
        float[] y = apply(VectorFunctions::exp, x);
        assertEquals(1f, y[0]);
        assertEquals(1f, y[1]);
        assertEquals((float) Math.E, y[2], Math.ulp((float) Math.E));
        assertTrue(Float.isNaN(y[3]));
        assertEquals(Float.POSITIVE_INFINITY, y[4]);
        assertEquals(0f, y[5]);
        assertTrue(ulps(y[6], Math.exp(88.72f)) <= 2, "exp(88.72) = " + y[6]);
        assertEquals(Float.POSITIVE_INFINITY, y[7]);
        assertEquals(Float.POSITIVE_INFINITY, y[8]);
        assertTrue(ulps(y[9], Math.exp(-87.33f)) <= 2, "exp(-87.33) = " + y[9]);
        assertTrue(y[10] == 0f || ulps(y[10], Math.exp(-87.34f)) <= 2, "exp(-87.34) = " + y[10]);
        assertEquals(0f, y[11]);
        assertEquals(0f, y[12]);
        assertEquals(Float.POSITIVE_INFINITY, y[13]);
        assertEquals(1f, y[14]);
        assertTrue(Float.isFinite(y[15]) && ulps(y[15], Math.exp(x[15])) <= 2, "exp near overflow = " + y[15]);
        assertTrue(y[16] == 0f || ulps(y[16], Math.exp(x[16])) <= 2, "exp near underflow = " + y[16]);
        // the sweep across the whole float range never produces garbage (NaN for non-NaN, negative values)
        for (int b = 0; b < 1 << 16; b++) {
            float v = Float.intBitsToFloat((b << 16) | 0x1234);
            float e = apply(VectorFunctions::exp, new float[] {v})[0];
            if (!Float.isNaN(v)) {
                double want = Math.exp(v);
                boolean ok = want > Float.MAX_VALUE ? e == Float.POSITIVE_INFINITY
                        : want < Float.MIN_NORMAL ? e >= 0 && e <= Float.MIN_NORMAL * 1.0001 : ulps(e, want) <= 2;
                assertTrue(ok,
                        "exp(" + v + ") = " + e + " vs " + want);
            }
        }
    }

    @Test
    void erfWithin1e7Absolute() {
        int n = 4_000_001;
        float[] x = grid(-5f, 5f, n);
        float[] y = apply(VectorFunctions::erf, x);
        double worst = 0;
        float at = 0;
        for (int i = 0; i < n; i++) {
            double e = Math.abs(y[i] - Reference.erf(x[i]));
            if (e > worst) {
                worst = e;
                at = x[i];
            }
        }
        System.out.println("VectorFunctions.erf worst abs error " + worst + " at " + at);
        assertTrue(worst <= 1e-7, "erf worst abs error " + worst + " at " + at);
        float[] edges = {0f, -0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0.8f, Math.nextUp(0.8f), 4f, 1e-30f};
        float[] ye = apply(VectorFunctions::erf, edges);
        assertEquals(0f, ye[0]);
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(ye[1]), "erf(-0) = -0");
        assertTrue(Float.isNaN(ye[2]));
        assertEquals(1f, ye[3]);
        assertEquals(-1f, ye[4]);
        assertEquals(Reference.erf(0.8f), ye[5], 1e-7);
        assertEquals(Reference.erf(Math.nextUp(0.8f)), ye[6], 1e-7);
        assertEquals(1f, ye[7]);
        assertEquals(1e-30 * 2 / Math.sqrt(Math.PI), ye[8], 1e-37);
    }

    /** erfc(x) for x >= 0.8 in double by the continued fraction (Lentz), for GELU's left tail. */
    private static double erfc(double x) {
        // erfc(x) = exp(-x²)/sqrt(pi) · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
        double f = x;
        for (int k = 200; k >= 1; k--) {
            f = x + (k / 2.0) / f;
        }
        return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
    }

    @Test
    void geluWithinTolerancesOnBothSidesAndAtTheEdges() {
        // GELU(x) = x·Φ(x), Φ from one erfc of z = |x|/√2: checked densely over [-14, 14] (erfc's clamp at z = 9.2
        // included) against double precision, the left tail relative to its own size, plus the special values.
        int n = 560_001;
        float[] x = grid(-14f, 14f, n);
        float[] y = apply(VectorFunctions::gelu, x);
        double worst = 0;
        float at = 0;
        for (int i = 0; i < n; i++) {
            // the argument x/√2 rounded to float first, as in PyTorch
            double z = Math.abs(x[i] * (float) Math.sqrt(0.5));
            double q = z < 0.8 ? 0.5 * (1 - Reference.erf(z)) : 0.5 * erfc(z);
            double want = x[i] * (x[i] < 0 ? q : 1 - q);
            double e = Math.abs(y[i] - want) / (1e-7 + 3e-7 * Math.abs(want));
            if (e > worst) {
                worst = e;
                at = x[i];
            }
        }
        System.out.println("VectorFunctions.gelu worst error / (1e-7 + 3e-7·|GELU|) " + worst + " at " + at);
        assertTrue(worst <= 1, "gelu worst error " + worst + " of the tolerance at " + at);
        // The left tail keeps its relative accuracy down to where Φ underflows float.
        float[] tail = {-3f, -5f, -8f, -12f};
        float[] yt = apply(VectorFunctions::gelu, tail);
        for (int i = 0; i < tail.length; i++) {
            double want = tail[i] * 0.5 * erfc(Math.abs(tail[i] * (float) Math.sqrt(0.5)));
            assertEquals(want, yt[i], 2e-5 * Math.abs(want), "gelu(" + tail[i] + ")");
        }
        float[] edges = {0f, -0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 100f, -100f, 1e-30f};
        float[] ye = apply(VectorFunctions::gelu, edges);
        assertEquals(0f, ye[0]);
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(ye[1]), "gelu(-0) = -0");
        assertTrue(Float.isNaN(ye[2]), "gelu(NaN) = NaN");
        assertEquals(Float.POSITIVE_INFINITY, ye[3]);
        assertTrue(Float.isNaN(ye[4]), "gelu(-inf) = -inf·0 = NaN, as PyTorch's");
        assertEquals(100f, ye[5]);
        assertEquals(0f, ye[6], 1e-37f);
        assertEquals(0.5e-30f, ye[7], 1e-37f);
    }

    @Test
    void sigmoidAndMulSigmoid() {
        long seed = System.nanoTime();
        float[] x = Reference.gaussian(new SplittableRandom(seed), 10_007, 0, 6);
        float[] s = apply(VectorFunctions::sigmoid, x);
        float[] q = apply(v -> VectorFunctions.mulSigmoid(v, 1.702f), x);
        double[] ws = new double[x.length];
        double[] wq = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            ws[i] = Reference.sigmoid(x[i]);
            // the argument 1.702·x is rounded to float first, as in PyTorch: the reference does the same
            wq[i] = x[i] * Reference.sigmoid(1.702f * x[i]);
        }
        Reference.assertClose(ws, s, 1e-30, 4e-7, "sigmoid seed " + seed);
        Reference.assertClose(wq, q, 1e-30, 4e-7, "quick gelu seed " + seed);
    }
}
