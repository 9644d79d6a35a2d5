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
 * <p>Accuracy (checked by {@code VectorFunctionsTest} against double-precision references):
 * {@link #exp} within 2 ulp for results in the normal range (results below {@code Float.MIN_NORMAL}
 * are flushed to zero; measured worst 0.93 ulp); {@link #erf} within 1e-7 absolute (measured 8.6e-8); {@link #gelu}
 * within 1e-7 + 3e-7·|GELU| (measured 0.40 of that over [-14, 14]; x/2·(1 + {@link #erf}(x/√2)) reached 0.44).
 *
 * <p>Why not {@code lanewise(VectorOperators.EXP)}: on x86 with AVX-512 (JDK 25) it calls SVML stubs and
 * measured faster (about 3.6-5.2 vs 2.4-3.0 G elements/s on one core; 0.54 vs 0.93 ulp), but its speed
 * and results depend on the platform (without a stub it is a per-lane {@code Math.exp} loop, tens of
 * times slower) and on whether the JIT has compiled the caller. The polynomial gives the same bits on
 * every machine, in the interpreter and in compiled code.
 */
public final class VectorFunctions {
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

    // GELU as x·Φ(x) from one erfc: erfc(z) = t·exp(-z² + G(t)), t = 1/(1 + z/2), G of degree 9 (the Chebyshev
    // fit of Numerical Recipes' erfcc, fractional error < 1.2e-7 for every z >= 0).
    private static final float G0 = -1.26551223f, G1 = 1.00002368f, G2 = 0.37409196f, G3 = 0.09678418f,
            G4 = -0.18628806f, G5 = 0.27886807f, G6 = -1.13520398f, G7 = 1.48851587f, G8 = -0.82215223f,
            G9 = 0.17087277f;
    /** Beyond this z, -z² + G(t) would leave exp's range: erfc(z) < 1e-37 there, taken as 0. */
    private static final float GELU_Z_MAX = 9.2f;
    private static final float SQRT_HALF = 0.70710677f;

    private static final float NEG_LN2_HI = -LN2_HI, NEG_LN2_LO = -LN2_LO, ONE = 1f;

    // The constants as vectors: C2 treats static final vectors as constants, and direct vector fma calls
    // keep the IR small enough that erf + exp inline fully (with scalar-broadcast helpers C2 hit its
    // inlining node limit and boxed the vectors, 20x slower).
    private static final FloatVector V_A1 = FloatVector.broadcast(SPECIES, A1);
    private static final FloatVector V_A2 = FloatVector.broadcast(SPECIES, A2);
    private static final FloatVector V_A3 = FloatVector.broadcast(SPECIES, A3);
    private static final FloatVector V_A4 = FloatVector.broadcast(SPECIES, A4);
    private static final FloatVector V_A5 = FloatVector.broadcast(SPECIES, A5);
    private static final FloatVector V_A6 = FloatVector.broadcast(SPECIES, A6);
    private static final FloatVector V_B0 = FloatVector.broadcast(SPECIES, B0);
    private static final FloatVector V_B1 = FloatVector.broadcast(SPECIES, B1);
    private static final FloatVector V_B10 = FloatVector.broadcast(SPECIES, B10);
    private static final FloatVector V_B11 = FloatVector.broadcast(SPECIES, B11);
    private static final FloatVector V_B2 = FloatVector.broadcast(SPECIES, B2);
    private static final FloatVector V_B3 = FloatVector.broadcast(SPECIES, B3);
    private static final FloatVector V_B4 = FloatVector.broadcast(SPECIES, B4);
    private static final FloatVector V_B5 = FloatVector.broadcast(SPECIES, B5);
    private static final FloatVector V_B6 = FloatVector.broadcast(SPECIES, B6);
    private static final FloatVector V_B7 = FloatVector.broadcast(SPECIES, B7);
    private static final FloatVector V_B8 = FloatVector.broadcast(SPECIES, B8);
    private static final FloatVector V_B9 = FloatVector.broadcast(SPECIES, B9);
    private static final FloatVector V_C0_LO = FloatVector.broadcast(SPECIES, C0_LO);
    private static final FloatVector V_C0_HI = FloatVector.broadcast(SPECIES, C0_HI);
    private static final FloatVector V_E2 = FloatVector.broadcast(SPECIES, E2);
    private static final FloatVector V_E3 = FloatVector.broadcast(SPECIES, E3);
    private static final FloatVector V_E4 = FloatVector.broadcast(SPECIES, E4);
    private static final FloatVector V_E5 = FloatVector.broadcast(SPECIES, E5);
    private static final FloatVector V_E6 = FloatVector.broadcast(SPECIES, E6);
    private static final FloatVector V_E7 = FloatVector.broadcast(SPECIES, E7);
    private static final FloatVector V_LOG2E = FloatVector.broadcast(SPECIES, LOG2E);
    private static final FloatVector V_ROUND_MAGIC = FloatVector.broadcast(SPECIES, ROUND_MAGIC);
    private static final FloatVector V_NEG_LN2_HI = FloatVector.broadcast(SPECIES, NEG_LN2_HI);
    private static final FloatVector V_NEG_LN2_LO = FloatVector.broadcast(SPECIES, NEG_LN2_LO);
    private static final FloatVector V_ONE = FloatVector.broadcast(SPECIES, ONE);

    private VectorFunctions() {
    }

    /** e^x per lane: within 2 ulp; NaN stays NaN, overflow gives +∞, results below the normal range give 0. */
    public static FloatVector exp(FloatVector x) {
        FloatVector y = expInRange(x.max(EXP_LO).min(EXP_HI));
        y = y.blend(0f, x.compare(VectorOperators.LT, EXP_LO));
        y = y.blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, EXP_HI));
        // NaN test as x != x: VectorOperators.IS_NAN is not intrinsified on JDK 25 (10x slower)
        return y.blend(x, x.compare(VectorOperators.NE, x));
    }

    /**
     * e^x for {@code x} in [EXP_LO, EXP_HI] ({@link #exp} after its clamp; erfc's {@code -a²} in [-16, -0.64] as it
     * is). Where erfcLarge called exp, GELU took 1.30-1.40 ns a value; with this, 1.14-1.28 (1 thread, L1). Inlining
     * is tight in the GEGLU epilogue: replacing erfcLarge's float clamp by integer or blend clamps, or moving its
     * polynomial into a method, made C2 stop inlining it there (boxed vectors, the layer 10-20 % slower) although each
     * was faster alone.
     */
    private static FloatVector expInRange(FloatVector x) {
        FloatVector shifted = x.fma(V_LOG2E, V_ROUND_MAGIC);
        FloatVector n = shifted.sub(ROUND_MAGIC);
        IntVector ni = shifted.reinterpretAsInts().sub(Float.floatToRawIntBits(ROUND_MAGIC));
        FloatVector r = n.fma(V_NEG_LN2_HI, x);
        r = n.fma(V_NEG_LN2_LO, r);
        FloatVector p = r.fma(V_E7, V_E6);
        p = p.fma(r, V_E5);
        p = p.fma(r, V_E4);
        p = p.fma(r, V_E3);
        p = p.fma(r, V_E2);
        p = p.fma(r, V_ONE);
        p = p.fma(r, V_ONE);
        return p.reinterpretAsInts().add(ni.lanewise(VectorOperators.LSHL, 23)).reinterpretAsFloats();
    }

    /**
     * GELU with the exact erf, {@code x·Φ(x) = 0.5·x·(1 + erf(x/√2))}, per lane, within 1e-7 + 3e-7·|GELU(x)| (the
     * argument x/√2 rounded to float first, as in PyTorch). One erfc of {@code z = |x|/√2} gives both sides:
     * {@code Φ(x) = 1 - erfc(z)/2} for x >= 0 and {@code erfc(z)/2} below, so the left tail keeps its relative
     * accuracy; about 30 operations and a division a vector, where {@code x/2·(1 + erf(x/√2))} evaluated erf's
     * two branches, the second with its own exponential, clamps and blends (about 100). NaN stays NaN,
     * {@code -∞} gives NaN (∞·0, as PyTorch's).
     */
    public static FloatVector gelu(FloatVector x) {
        FloatVector z = x.abs().mul(SQRT_HALF);
        // z clamped by its bits (z >= 0; a NaN orders above): exp's argument stays in range.
        FloatVector zc = z.reinterpretAsInts().lanewise(VectorOperators.MIN, Float.floatToRawIntBits(GELU_Z_MAX))
                .reinterpretAsFloats();
        FloatVector t = FloatVector.broadcast(SPECIES, 1f).div(zc.fma(0.5f, 1f));
        // G(t) by Estrin's scheme: five levels of dependent operations instead of Horner's nine.
        FloatVector t2 = t.mul(t);
        FloatVector t4 = t2.mul(t2);
        FloatVector g01 = t.fma(G1, G0);
        FloatVector g23 = t.fma(G3, G2);
        FloatVector g45 = t.fma(G5, G4);
        FloatVector g67 = t.fma(G7, G6);
        FloatVector g89 = t.fma(G9, G8);
        FloatVector g03 = t2.fma(g23, g01);
        FloatVector g47 = t2.fma(g67, g45);
        FloatVector g = t4.fma(t4.fma(g89, g47), g03);
        FloatVector q = t.mul(0.5f).mul(expInRange(zc.neg().fma(zc, g)));
        q = q.blend(0f, z.compare(VectorOperators.GE, GELU_Z_MAX));
        return x.mul(q.neg().add(1f).blend(q, x.compare(VectorOperators.LT, 0f)));
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
        // Both branches for every vector, no test: behind a branch the call to erfcLarge counts as cold for C2, which
        // then calls it out of line with boxed vectors (100 bytes of garbage per vector, GEGLU 30 % slower).
        FloatVector y = erfSmall(ax).blend(erfcLarge(ax).neg().add(1f), large);
        // restore the sign (erf is odd)
        return y.reinterpretAsInts().or(x.reinterpretAsInts().and(0x80000000)).reinterpretAsFloats();
    }

    /** erf(a) for 0 <= a <= ERF_SPLIT (odd polynomial, leading coefficient in two parts). */
    private static FloatVector erfSmall(FloatVector a) {
        FloatVector s = a.mul(a);
        FloatVector p = s.fma(V_A6, V_A5);
        p = p.fma(s, V_A4);
        p = p.fma(s, V_A3);
        p = p.fma(s, V_A2);
        p = p.fma(s, V_A1);
        p = p.fma(s, V_C0_LO);
        return a.fma(V_C0_HI, a.mul(p));
    }

    /** erfc(a) for a >= ERF_SPLIT (clamped to [ERF_SPLIT, ERF_MAX]; 0 beyond ERF_MAX), NaN for NaN. */
    private static FloatVector erfcLarge(FloatVector a) {
        FloatVector ac = a.max(ERF_SPLIT).min(ERF_MAX);
        FloatVector t = ac.fma(0.625f, -1.5f);
        FloatVector r = t.fma(V_B11, V_B10);
        r = r.fma(t, V_B9);
        r = r.fma(t, V_B8);
        r = r.fma(t, V_B7);
        r = r.fma(t, V_B6);
        r = r.fma(t, V_B5);
        r = r.fma(t, V_B4);
        r = r.fma(t, V_B3);
        r = r.fma(t, V_B2);
        r = r.fma(t, V_B1);
        r = r.fma(t, V_B0);
        // -ac² lies in [-16, -0.64]: exp's clamps and its blends for overflow, underflow and NaN are never needed.
        FloatVector e = expInRange(ac.mul(ac).neg()).mul(r);
        e = e.blend(0f, a.compare(VectorOperators.GE, ERF_MAX));
        return e.blend(a, a.compare(VectorOperators.NE, a));
    }
}
