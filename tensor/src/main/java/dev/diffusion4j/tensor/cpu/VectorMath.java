package dev.diffusion4j.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorised transcendental functions on {@link FloatVector#SPECIES_PREFERRED} vectors, written with
 * explicit polynomials so results are the same on every CPU and need no math library intrinsics.
 *
 * <p>Accuracy (checked by {@code VectorMathTest} against double-precision references):
 * {@link #exp} within 2 ulp for results in the normal range (results below {@code Float.MIN_NORMAL}
 * are flushed to zero); {@link #erf} within 1e-7 absolute.
 */
public final class VectorMath {
    /** The species every kernel uses. */
    public static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    // exp: x = n·ln2 + r with |r| <= ln2/2, e^r by its degree-7 Taylor polynomial (truncation < 6e-9
    // relative), 2^n added straight into the exponent bits.
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;        // few mantissa bits: n·LN2_HI is exact
    private static final float LN2_LO = -2.12194440e-4f;    // ln2 - LN2_HI
    /** Above this, e^x overflows float; at or below it r < 0 so the exponent addition cannot overflow. */
    private static final float EXP_HI = 88.72283f;
    /** Below this, e^x is under Float.MIN_NORMAL: returned as 0. */
    private static final float EXP_LO = -87.33654f;
    /** 1.5·2^23: adding it rounds a float of magnitude below 2^22 to an integer (ties to even). */
    private static final float ROUND_MAGIC = 12582912f;
    private static final float E2 = 1f / 2, E3 = 1f / 6, E4 = 1f / 24, E5 = 1f / 120, E6 = 1f / 720, E7 = 1f / 5040;

    // erf(x), |x| <= 0.8: x·(c0 + s·P(s)), s = x², c0 = 2/sqrt(pi) split in hi + lo; least-squares fit on
    // Chebyshev nodes (this project's own fit, max error 5e-8 in float arithmetic).
    private static final float ERF_SPLIT = 0.8f;
    private static final float C0_HI = 1.128379225730896f;
    private static final float C0_LO = -5.8635382771399236e-08f;
    private static final float A1 = -0.37612637877464294f, A2 = 0.11283788084983826f, A3 = -0.026865443214774132f,
            A4 = 0.00521876523271203f, A5 = -0.0008381839725188911f, A6 = 9.578411845723167e-05f;
    // erfc(x) = exp(-x²)·R(t), 0.8 <= x <= 4, t = 0.625·x - 1.5 in [-1, 1]: degree-11 fit of erfc(x)·exp(x²)
    // (max error of erf 8e-8 in float arithmetic). erfc(4) < 1.6e-8, so erf = ±1 beyond.
    private static final float ERF_MAX = 4f;
    private static final float B0 = 0.21849870681762695f, B1 = -0.12733633816242218f, B2 = 0.07038652896881104f,
            B3 = -0.037136565893888474f, B4 = 0.018776414915919304f, B5 = -0.009147727862000465f,
            B6 = 0.004383954685181379f, B7 = -0.002006631577387452f, B8 = 0.0007409290410578251f,
            B9 = -0.000313414289848879f, B10 = 0.00026345724472776055f, B11 = -0.00010989049769705161f;

    private VectorMath() {
    }

    /** {@code a·b + c} with one rounding. */
    private static FloatVector fma(FloatVector a, FloatVector b, float c) {
        return a.fma(b, a.broadcast(c));
    }

    /** e^x per lane: within 2 ulp; NaN stays NaN, overflow gives +∞, results below the normal range give 0. */
    public static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(EXP_LO).min(EXP_HI);
        FloatVector shifted = fma(xc, xc.broadcast(LOG2E), ROUND_MAGIC);
        FloatVector n = shifted.sub(ROUND_MAGIC);
        IntVector ni = shifted.reinterpretAsInts().sub(Float.floatToRawIntBits(ROUND_MAGIC));
        FloatVector r = n.fma(n.broadcast(-LN2_HI), xc);
        r = n.fma(n.broadcast(-LN2_LO), r);
        FloatVector p = fma(r, r.broadcast(E7), E6);
        p = fma(p, r, E5);
        p = fma(p, r, E4);
        p = fma(p, r, E3);
        p = fma(p, r, E2);
        p = fma(p, r, 1f);
        p = fma(p, r, 1f);
        FloatVector y = p.reinterpretAsInts().add(ni.lanewise(VectorOperators.LSHL, 23)).reinterpretAsFloats();
        y = y.blend(0f, x.compare(VectorOperators.LT, EXP_LO));
        y = y.blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, EXP_HI));
        return y.blend(x, x.test(VectorOperators.IS_NAN));
    }

    /** The logistic sigmoid {@code 1 / (1 + e^-x)} per lane. */
    public static FloatVector sigmoid(FloatVector x) {
        return x.broadcast(1f).div(exp(x.neg()).add(1f));
    }

    /** {@code x / (1 + e^-(k·x))} per lane: SiLU for k = 1, quick GELU for k = 1.702. */
    public static FloatVector mulSigmoid(FloatVector x, float k) {
        return x.div(exp(x.mul(-k)).add(1f));
    }

    /** erf(x) per lane, within 1e-7 absolute; odd, ±1 for |x| >= 4, NaN stays NaN. */
    public static FloatVector erf(FloatVector x) {
        FloatVector ax = x.abs();
        VectorMask<Float> large = ax.compare(VectorOperators.GT, ERF_SPLIT);
        FloatVector y = erfSmall(ax);
        if (large.anyTrue()) {
            y = y.blend(erfcLarge(ax).neg().add(1f), large);
        }
        // restore the sign (erf is odd)
        return y.reinterpretAsInts().or(x.reinterpretAsInts().and(0x80000000)).reinterpretAsFloats();
    }

    /**
     * {@code 1 + erf(u)} per lane, without the cancellation of computing erf first when {@code u} is
     * very negative (there it is erfc(|u|), small but with full relative accuracy).
     */
    public static FloatVector onePlusErf(FloatVector u) {
        FloatVector au = u.abs();
        VectorMask<Float> large = au.compare(VectorOperators.GT, ERF_SPLIT);
        FloatVector small = erfSmall(au);
        // restore the sign of the small branch: 1 + erf(u) = 1 ± erf(|u|)
        small = small.reinterpretAsInts().or(u.reinterpretAsInts().and(0x80000000)).reinterpretAsFloats().add(1f);
        if (!large.anyTrue()) {
            return small;
        }
        FloatVector erfc = erfcLarge(au);
        FloatVector big = erfc.neg().add(2f).blend(erfc, u.compare(VectorOperators.LT, 0f));
        return small.blend(big, large);
    }

    /** erf(a) for 0 <= a <= ERF_SPLIT (odd polynomial, leading coefficient in two parts). */
    private static FloatVector erfSmall(FloatVector a) {
        FloatVector s = a.mul(a);
        FloatVector p = fma(s, s.broadcast(A6), A5);
        p = fma(p, s, A4);
        p = fma(p, s, A3);
        p = fma(p, s, A2);
        p = fma(p, s, A1);
        p = fma(p, s, C0_LO);
        return a.fma(a.broadcast(C0_HI), a.mul(p));
    }

    /** erfc(a) for a >= ERF_SPLIT (clamped to [ERF_SPLIT, ERF_MAX]; 0 beyond ERF_MAX), NaN for NaN. */
    private static FloatVector erfcLarge(FloatVector a) {
        FloatVector ac = a.max(ERF_SPLIT).min(ERF_MAX);
        FloatVector t = fma(ac, ac.broadcast(0.625f), -1.5f);
        FloatVector r = fma(t, t.broadcast(B11), B10);
        r = fma(r, t, B9);
        r = fma(r, t, B8);
        r = fma(r, t, B7);
        r = fma(r, t, B6);
        r = fma(r, t, B5);
        r = fma(r, t, B4);
        r = fma(r, t, B3);
        r = fma(r, t, B2);
        r = fma(r, t, B1);
        r = fma(r, t, B0);
        FloatVector e = exp(ac.mul(ac).neg()).mul(r);
        e = e.blend(0f, a.compare(VectorOperators.GE, ERF_MAX));
        return e.blend(a, a.test(VectorOperators.IS_NAN));
    }
}
