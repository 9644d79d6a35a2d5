package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * A bit-exact re-implementation of PyTorch's CPU generator ({@code torch.Generator()} on CPU): mt19937
 * plus the {@code torch.randn}/{@code torch.rand} float32 algorithms of an x86-64 AVX2 build.
 *
 * <ul>
 *   <li>{@link #randn} with numel &ge; 16 reproduces {@code normal_fill} with the AVX2 Box-Muller kernel
 *       (Cephes {@code log256_ps}/{@code sincos256_ps} in float32 with GCC's FMA contractions), including
 *       the re-drawn last block when numel is not a multiple of 16;</li>
 *   <li>numel &lt; 16 uses the double-precision scalar path with the cached second normal, which lives in
 *       this object (like torch's generator) and is consumed by the next small {@code randn}.</li>
 * </ul>
 * Not thread-safe: one generator per run, used in a fixed order.
 */
public final class TorchGenerator implements NoiseGenerator {
    private static final int N = 624;
    private static final int M = 397;
    private final int[] mt = new int[N];
    private int mti;
    private boolean hasCachedNormal;
    private double cachedNormal;

    /** A generator seeded like {@code torch.Generator().manual_seed(seed)}. */
    public TorchGenerator(long seed) {
        manualSeed(seed);
    }

    /**
     * Re-seeds like {@code manual_seed}: only the low 32 bits of {@code seed} are used (torch's mt19937
     * engine truncates; {@code 2^32 + 42} equals {@code 42}), and the cached normal is cleared.
     */
    public TorchGenerator manualSeed(long seed) {
        mt[0] = (int) seed;
        for (int i = 1; i < N; i++) {
            mt[i] = 1812433253 * (mt[i - 1] ^ (mt[i - 1] >>> 30)) + i;
        }
        mti = N;
        hasCachedNormal = false;
        cachedNormal = 0;
        return this;
    }

    /** Next raw 32-bit mt19937 output, as an unsigned value in a long. */
    public long nextUInt32() {
        return Integer.toUnsignedLong(next32());
    }

    private int next32() {
        if (mti >= N) {
            twist();
        }
        int y = mt[mti++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y;
    }

    private void twist() {
        for (int i = 0; i < N; i++) {
            int y = (mt[i] & 0x80000000) | (mt[(i + 1) % N] & 0x7fffffff);
            int v = mt[(i + M) % N] ^ (y >>> 1);
            if ((y & 1) != 0) {
                v ^= 0x9908b0df;
            }
            mt[i] = v;
        }
        mti = 0;
    }

    /** torch's float uniform in [0,1): 24 random bits times 2^-24. */
    private float nextFloat() {
        return (next32() & 0xFFFFFF) * 0x1.0p-24f;
    }

    /** torch's double uniform in [0,1): the low 53 bits of {@code (first << 32) | second} times 2^-53. */
    private double nextDouble() {
        long hi = Integer.toUnsignedLong(next32());
        long lo = Integer.toUnsignedLong(next32());
        return (((hi << 32) | lo) & ((1L << 53) - 1)) * 0x1.0p-53;
    }

    /** {@code torch.rand(shape, generator=g)} (float32): one float uniform per element, in order. */
    public float[] rand(int... shape) {
        float[] out = new float[NoiseGenerator.numel("TorchGenerator.rand", shape)];
        for (int i = 0; i < out.length; i++) {
            out[i] = nextFloat();
        }
        return out;
    }

    /** {@link #rand(int...)} as an F32 heap tensor. */
    public Tensor randTensor(int... shape) {
        return Tensor.of(rand(shape), shape);
    }

    /** {@code torch.randn(shape, generator=g)} (float32, CPU), bit-exact. */
    @Override
    public float[] randn(int... shape) {
        int n = NoiseGenerator.numel("TorchGenerator.randn", shape);
        float[] out = new float[n];
        if (n >= 16) {
            for (int i = 0; i < n; i++) {
                out[i] = nextFloat();
            }
            for (int i = 0; i + 16 <= n; i += 16) {
                boxMuller16(out, i);
            }
            if (n % 16 != 0) {
                // torch re-draws the last 16 values (overwriting already transformed ones) and transforms them.
                int start = n - 16;
                for (int i = 0; i < 16; i++) {
                    out[start + i] = nextFloat();
                }
                boxMuller16(out, start);
            }
        } else {
            for (int i = 0; i < n; i++) {
                out[i] = (float) scalarNormal();
            }
        }
        return out;
    }

    /** at::normal_distribution&lt;double&gt; with the generator's cached second value. */
    private double scalarNormal() {
        if (hasCachedNormal) {
            hasCachedNormal = false;
            return cachedNormal;
        }
        double u1 = nextDouble();
        double u2 = nextDouble();
        double r = Math.sqrt(-2.0 * Math.log1p(-u2));
        double theta = 2.0 * Math.PI * u1;
        cachedNormal = r * Math.sin(theta);
        hasCachedNormal = true;
        return r * Math.cos(theta);
    }

    // Cephes/avx_mathfun constants, as float32.
    private static final float P0 = 7.0376836292E-2f;
    private static final float P1 = -1.1514610310E-1f;
    private static final float P2 = 1.1676998740E-1f;
    private static final float P3 = -1.2420140846E-1f;
    private static final float P4 = 1.4249322787E-1f;
    private static final float P5 = -1.6668057665E-1f;
    private static final float P6 = 2.0000714765E-1f;
    private static final float P7 = -2.4999993993E-1f;
    private static final float P8 = 3.3333331174E-1f;
    private static final float Q1 = -2.12194440e-4f;
    private static final float Q2 = 0.693359375f;
    private static final float SQRTHF = 0.707106781186547524f;
    private static final float DP1 = -0.78515625f;
    private static final float DP2 = -2.4187564849853515625e-4f;
    private static final float DP3 = -3.77489497744594108e-8f;
    private static final float SIN0 = -1.9515295891E-4f;
    private static final float SIN1 = 8.3321608736E-3f;
    private static final float SIN2 = -1.6666654611E-1f;
    private static final float COS0 = 2.443315711809948E-5f;
    private static final float COS1 = -1.388731625493765E-3f;
    private static final float COS2 = 4.166664568298827E-2f;
    private static final float FOUR_OVER_PI = 1.27323954473516f;
    private static final float TWO_PI = (float) (2 * Math.PI);

    /** normal_fill_16_AVX2 on {@code data[i..i+16)}: lanes j and j+8 become one Box-Muller pair. */
    private static void boxMuller16(float[] data, int i) {
        for (int j = 0; j < 8; j++) {
            float u1 = 1f - data[i + j];
            float u2 = data[i + j + 8];
            float radius = (float) Math.sqrt(-2f * logf(u1));
            float theta = TWO_PI * u2;
            long sc = sincos(theta);
            float sin = Float.intBitsToFloat((int) (sc >>> 32));
            float cos = Float.intBitsToFloat((int) sc);
            // torch stores fma(n, std, mean) with std = 1, mean = 0 (turns -0 into +0).
            data[i + j] = Math.fma(radius * cos, 1f, 0f);
            data[i + j + 8] = Math.fma(radius * sin, 1f, 0f);
        }
    }

    /** avx_mathfun log256_ps for one lane, with the FMA contractions GCC makes. */
    static float logf(float u) {
        float x = Math.max(u, Float.MIN_NORMAL);
        int bits = Float.floatToRawIntBits(x);
        float e = (float) ((bits >>> 23) - 127) + 1f;
        x = Float.intBitsToFloat((bits & ~0x7f800000) | 0x3f000000);
        if (x < SQRTHF) {
            e = e - 1f;
            x = (x - 1f) + x;
        } else {
            x = x - 1f;
        }
        float z = x * x;
        float y = P0;
        y = Math.fma(y, x, P1);
        y = Math.fma(y, x, P2);
        y = Math.fma(y, x, P3);
        y = Math.fma(y, x, P4);
        y = Math.fma(y, x, P5);
        y = Math.fma(y, x, P6);
        y = Math.fma(y, x, P7);
        y = Math.fma(y, x, P8);
        y = y * x;
        y = Math.fma(y, z, e * Q1);
        y = Math.fma(-z, 0.5f, y);
        x = x + y;
        return Math.fma(e, Q2, x);
    }

    /** avx_mathfun sincos256_ps for one non-negative lane: sin bits in the high word, cos bits low. */
    static long sincos(float theta) {
        int j4 = (int) (theta * FOUR_OVER_PI);
        j4 = (j4 + 1) & ~1;
        float yj = (float) j4;
        float x = Math.fma(yj, DP1, theta);
        x = Math.fma(yj, DP2, x);
        x = Math.fma(yj, DP3, x);
        float z = x * x;
        float c = Math.fma(Math.fma(COS0, z, COS1), z, COS2);
        c = c * z;
        c = Math.fma(c, z, -(z * 0.5f));
        c = c + 1f;
        float s = Math.fma(Math.fma(SIN0, z, SIN1), z, SIN2);
        s = s * z;
        s = Math.fma(s, x, x);
        float sin;
        float cos;
        if ((j4 & 2) == 0) {
            sin = s;
            cos = c;
        } else {
            sin = c;
            cos = s;
        }
        if ((j4 & 4) != 0) {
            sin = -sin;
        }
        if (((j4 - 2) & 4) == 0) {
            cos = -cos;
        }
        return ((long) Float.floatToRawIntBits(sin) << 32) | (Float.floatToRawIntBits(cos) & 0xffffffffL);
    }
}
