package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class AttentionTest {
    private static ComputePool pool;

    @BeforeAll
    static void startPool() {
        pool = new ComputePool(2);
    }

    @AfterAll
    static void stopPool() {
        pool.close();
    }

    /** Naive reference in double precision for rows {@code [r0, r1)} of every batch and head; scores materialised. */
    static double[] reference(Tensor q, Tensor k, Tensor v, int heads, float scale, boolean causal, int r0, int r1) {
        int b = q.dim(0);
        int tq = q.dim(1);
        int c = q.dim(2);
        int tk = k.dim(1);
        int d = c / heads;
        int rows = r1 - r0;
        double[] out = new double[b * rows * c];
        double[] sc = new double[tk];
        for (int n = 0; n < b; n++) {
            for (int h = 0; h < heads; h++) {
                for (int i = r0; i < r1; i++) {
                    double max = Double.NEGATIVE_INFINITY;
                    int visible = causal ? i + 1 : tk;
                    for (int j = 0; j < visible; j++) {
                        double dot = 0;
                        for (int e = 0; e < d; e++) {
                            dot += (double) q.get(n, i, h * d + e) * k.get(n, j, h * d + e);
                        }
                        sc[j] = dot * scale;
                        max = Math.max(max, sc[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < visible; j++) {
                        sc[j] = Math.exp(sc[j] - max);
                        sum += sc[j];
                    }
                    for (int e = 0; e < d; e++) {
                        double acc = 0;
                        for (int j = 0; j < visible; j++) {
                            acc += sc[j] * v.get(n, j, h * d + e);
                        }
                        out[(n * rows + (i - r0)) * c + h * d + e] = acc / sum;
                    }
                }
            }
        }
        return out;
    }

    static Tensor random(Random rnd, float magnitude, int... dims) {
        Tensor t = Tensor.zeros(dims);
        for (long i = 0; i < t.numel(); i++) {
            t.setFlat(i, (float) (rnd.nextGaussian() * magnitude));
        }
        return t;
    }

    /** Compares rows {@code [r0, r1)}; tolerance relative to the largest |v| (outputs are convex mixes of v). */
    static void check(long seed, String what, Tensor out, double[] ref, int r0, int r1, double vmax, double rtol) {
        int b = out.dim(0);
        int c = out.dim(2);
        int rows = r1 - r0;
        double tol = rtol * vmax;
        for (int n = 0; n < b; n++) {
            for (int i = r0; i < r1; i++) {
                for (int e = 0; e < c; e++) {
                    double want = ref[(n * rows + (i - r0)) * c + e];
                    float got = out.get(n, i, e);
                    if (!(Math.abs(got - want) <= tol)) {
                        fail(what + " seed=" + seed + ": out[" + n + "," + i + "," + e + "] = " + got
                                + ", expected " + want + " (tol " + tol + ")");
                    }
                }
            }
        }
    }

    static double maxAbs(Tensor t) {
        double m = 0;
        for (float x : t.toFloatArray()) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }

    private static void run(long seed, int batch, int tq, int tk, int heads, int d, boolean causal, float magnitude) {
        Random rnd = new Random(seed);
        int c = heads * d;
        Tensor q = random(rnd, magnitude, batch, tq, c);
        Tensor k = random(rnd, magnitude, batch, tk, c);
        Tensor v = random(rnd, 1f, batch, tk, c);
        float scale = (float) (1 / Math.sqrt(d));
        Tensor out = Attention.attention(pool, q, k, v, heads, scale, causal);
        assertEquals(Shape.of(batch, tq, c), out.shape());
        double[] ref = reference(q, k, v, heads, scale, causal, 0, tq);
        String what = "attention B=" + batch + " Tq=" + tq + " Tk=" + tk + " heads=" + heads + " d=" + d
                + " causal=" + causal + " magnitude=" + magnitude;
        check(seed, what, out, ref, 0, tq, maxAbs(v), 2e-5 * Math.max(1, magnitude * magnitude));
    }

    @ParameterizedTest(name = "B={0} Tq={1} Tk={2} heads={3} d={4} causal={5}")
    @CsvSource({
        "1, 1, 1, 1, 1, false",
        "1, 5, 3, 1, 8, false",
        "1, 64, 64, 1, 40, false",
        "1, 100, 100, 2, 40, false",
        "2, 130, 77, 8, 40, false",
        "1, 77, 77, 12, 64, true",
        "2, 77, 77, 2, 64, true",
        "1, 200, 200, 1, 17, true",
        "1, 129, 129, 2, 8, true",
        "2, 70, 77, 2, 80, false",
        "1, 33, 77, 1, 160, false",
        "1, 65, 150, 1, 64, false",
        "1, 40, 50, 2, 1, false",
        "2, 17, 300, 12, 17, false",
        "1, 96, 96, 1, 512, false",
    })
    void matchesReference(int batch, int tq, int tk, int heads, int d, boolean causal) {
        long seed = new Random().nextLong();
        run(seed, batch, tq, tk, heads, d, causal, 1f);
    }

    /**
     * Short key sequences (one key block): heads are the inner task index and full query blocks are
     * transposed with gathers; head sizes that are not a multiple of the vector length, and causal.
     */
    @ParameterizedTest(name = "B={0} Tq={1} Tk={2} heads={3} d={4} causal={5}")
    @CsvSource({
        "2, 192, 100, 3, 17, false",
        "1, 256, 77, 5, 24, false",
        "1, 128, 128, 2, 8, true",
        "2, 300, 9, 4, 40, false",
    })
    void oneKeyBlockMatchesReference(int batch, int tq, int tk, int heads, int d, boolean causal) {
        long seed = new Random().nextLong();
        run(seed, batch, tq, tk, heads, d, causal, 1f);
    }

    /**
     * More keys than fit in one block (2·96): every block after the first takes the lazy-reference path.
     * Odd token counts, head sizes that are not multiples of the 6-key / 6-channel steps or the vector
     * length, partial query blocks.
     */
    @ParameterizedTest(name = "B={0} Tq={1} Tk={2} heads={3} d={4} causal={5}")
    @CsvSource({
        "1, 70, 193, 2, 40, false",
        "2, 65, 389, 3, 17, false",
        "1, 130, 500, 2, 80, false",
        "1, 33, 301, 1, 160, false",
        "1, 17, 777, 2, 1, false",
        "1, 64, 289, 2, 3, false",
        "2, 100, 250, 1, 64, false",
        "1, 300, 300, 2, 40, true",
        "1, 257, 257, 1, 17, true",
    })
    void manyKeyBlocksMatchReference(int batch, int tq, int tk, int heads, int d, boolean causal) {
        long seed = new Random().nextLong();
        run(seed, batch, tq, tk, heads, d, causal, 1f);
        // Large scores over several blocks: the reference moves by tens of powers of two between blocks.
        run(seed + 1, batch, tq, tk, heads, d, causal, 6f);
    }

    /**
     * Scores that grow from block to block, so the lazy reference is raised (and the accumulated output
     * rescaled) after every block; in one case a late key beats the reference by far more than the headroom
     * of 2^64, which sends its block down the classic path.
     */
    @ParameterizedTest(name = "jump={0} d={1}")
    @CsvSource({"1, 40", "4, 40", "40, 17", "200, 80", "1000, 40"})
    void risingScoresRescaleCorrectly(float jump, int d) {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        int tq = 70;
        int tk = 600;
        int heads = 2;
        int c = heads * d;
        Tensor q = random(rnd, 1f, 1, tq, c);
        Tensor k = random(rnd, 1f, 1, tk, c);
        Tensor v = random(rnd, 1f, 1, tk, c);
        // Keys aligned with their query direction, more so for later keys: scores rise along the sequence.
        float[] qa = q.array();
        float[] ka = k.array();
        for (int j = 0; j < tk; j++) {
            float f = jump * j / tk;
            for (int e = 0; e < c; e++) {
                ka[k.offset() + j * c + e] += f * qa[q.offset() + (j % tq) * c + e];
            }
        }
        // One late key far above everything before it (for every query of head 0).
        int late = 500;
        for (int e = 0; e < d; e++) {
            ka[late * c + e] = 0;
            for (int i = 0; i < tq; i++) {
                ka[late * c + e] += jump * qa[i * c + e] / tq;
            }
        }
        float scale = (float) (1 / Math.sqrt(d));
        Tensor out = Attention.attention(pool, q, k, v, heads, scale, false);
        double[] ref = reference(q, k, v, heads, scale, false, 0, tq);
        check(seed, "rising scores jump=" + jump + " d=" + d, out, ref, 0, tq, maxAbs(v), 2e-5);
        for (float x : out.toFloatArray()) {
            assertTrue(Float.isFinite(x), "non-finite output, seed=" + seed);
        }
    }

    @Test
    void largeScoresStayFinite() {
        long seed = new Random().nextLong();
        // Scores of order 1e3..1e4: a plain softmax would overflow exp.
        run(seed, 1, 90, 130, 2, 40, false, 30f);
        run(seed + 1, 1, 90, 90, 2, 16, true, 30f);
    }

    @Test
    void singleThreadMatchesPool() {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        Tensor q = random(rnd, 1, 2, 150, 80);
        Tensor k = random(rnd, 1, 2, 150, 80);
        Tensor v = random(rnd, 1, 2, 150, 80);
        try (ComputePool one = new ComputePool(1)) {
            Tensor a = Attention.attention(one, q, k, v, 2, 0.15f, false);
            Tensor b = Attention.attention(pool, q, k, v, 2, 0.15f, false);
            // Same tiling either way; only the (unspecified) lane order of reductions may differ between
            // interpreted and compiled code, so allow a few ulp.
            float[] x = a.toFloatArray();
            float[] y = b.toFloatArray();
            for (int i = 0; i < x.length; i++) {
                assertEquals(x[i], y[i], 1e-6f * Math.max(1f, Math.abs(x[i])), "element " + i + " seed=" + seed);
            }
        }
    }

    @Test
    void viewsAndSegmentsAsInputs() {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        int tq = 45;
        int tk = 77;
        int c = 2 * 24;
        float[] big = new float[7 + tq * c + tk * c];
        for (int i = 0; i < big.length; i++) {
            big[i] = (float) rnd.nextGaussian();
        }
        Tensor q = Tensor.of(big, 7, Shape.of(1, tq, c));
        Tensor k = Tensor.of(big, 7 + tq * c, Shape.of(1, tk, c));
        float[] vData = random(rnd, 1, 1, tk, c).toFloatArray();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate((long) vData.length * 4);
            for (int i = 0; i < vData.length; i++) {
                seg.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, vData[i]);
            }
            Tensor v = Tensor.wrap(seg, dev.diffusion4j.tensor.DType.F32, Shape.of(1, tk, c));
            Tensor out = Attention.attention(pool, q, k, v, 2, 0.2f, false);
            double[] ref = reference(q, k, v, 2, 0.2f, false, 0, tq);
            check(seed, "views/segment", out, ref, 0, tq, maxAbs(v), 2e-5);
            // Inputs are untouched.
            assertEquals(big[7], q.get(0, 0, 0));
        }
    }

    @Test
    void causalRowZeroCopiesFirstValue() {
        Random rnd = new Random(1);
        Tensor q = random(rnd, 1, 1, 10, 8);
        Tensor k = random(rnd, 1, 1, 10, 8);
        Tensor v = random(rnd, 1, 1, 10, 8);
        Tensor out = Attention.attention(pool, q, k, v, 2, 1f, true);
        for (int e = 0; e < 8; e++) {
            assertEquals(v.get(0, 0, e), out.get(0, 0, e), 1e-6f);
        }
    }

    /** U-Net first level at 512×512: 4096 tokens, 8 heads of 40; a few rows checked against the reference. */
    @Test
    void unetLevelOneSizeChecksSampledRows() {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        int t = 4096;
        int heads = 8;
        int d = 40;
        Tensor q = random(rnd, 1, 1, t, heads * d);
        Tensor k = random(rnd, 1, 1, t, heads * d);
        Tensor v = random(rnd, 1, 1, t, heads * d);
        float scale = (float) (1 / Math.sqrt(d));
        Tensor out = Attention.attention(pool, q, k, v, heads, scale, false);
        int[] starts = {0, 63, 64, 2047, 4093};
        for (int r0 : starts) {
            int r1 = Math.min(t, r0 + 3);
            double[] ref = reference(q, k, v, heads, scale, false, r0, r1);
            check(seed, "4096x8x40 rows " + r0, out, ref, r0, r1, maxAbs(v), 2e-5);
        }
    }

    @Test
    void rejectsBadShapes() {
        Tensor q = Tensor.zeros(1, 4, 12);
        Tensor k = Tensor.zeros(1, 5, 12);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Attention.attention(pool, q, k, k, 5, 1f, false));
        assertTrue(e.getMessage().contains("heads=5") && e.getMessage().contains("[1, 4, 12]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Attention.attention(pool, q, Tensor.zeros(2, 5, 12), Tensor.zeros(2, 5, 12), 2, 1f, false));
        assertTrue(e.getMessage().contains("batch"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Attention.attention(pool, q, Tensor.zeros(1, 5, 8), Tensor.zeros(1, 5, 8), 2, 1f, false));
        assertTrue(e.getMessage().contains("channel"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Attention.attention(pool, q, k, Tensor.zeros(1, 6, 12), 2, 1f, false));
        assertTrue(e.getMessage().contains("token"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Attention.attention(pool, q, k, k, 2, 1f, true));
        assertTrue(e.getMessage().contains("causal"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Attention.attention(pool, Tensor.zeros(4, 12), k, k, 2, 1f, false));
        assertTrue(e.getMessage().contains("[B, T, C]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Attention.attention(pool, q, k, k, 0, 1f, false));
        assertTrue(e.getMessage().contains("heads=0"), e.getMessage());
    }

    /**
     * Each thread keeps its tiles from call to call: a call gives the same bits whatever ran before it on the same
     * threads (here a larger head size and longer keys, whose values are left in the tiles, then a causal call).
     */
    @Test
    void tilesKeptBetweenCallsCarryNothingOver() {
        Random rnd = new Random(77);
        Tensor q = random(rnd, 3f, 2, 70, 3 * 17);
        Tensor k = random(rnd, 3f, 2, 77, 3 * 17);
        Tensor v = random(rnd, 1f, 2, 77, 3 * 17);
        Tensor bigQ = random(rnd, 3f, 1, 64, 2 * 80);
        Tensor bigKv = random(rnd, 3f, 1, 300, 2 * 80);
        for (ComputePool p : new ComputePool[] {new ComputePool(1), pool}) {
            float[] first = Attention.attention(p, q, k, v, 3, 0.25f, false).toFloatArray();
            Attention.attention(p, bigQ, bigKv, bigKv, 2, 0.1f, false);
            Attention.attention(p, bigQ, bigQ, bigQ, 2, 0.1f, true);
            float[] again = Attention.attention(p, q, k, v, 3, 0.25f, false).toFloatArray();
            assertArrayEquals(first, again, "threads=" + p.threads());
            double[] ref = reference(q, k, v, 3, 0.25f, false, 0, 70);
            check(77, "after other calls, threads=" + p.threads(), Attention.attention(p, q, k, v, 3, 0.25f, false),
                    ref, 0, 70, maxAbs(v), 2e-5 * 9);
            if (p != pool) {
                p.close();
            }
        }
    }

    @Test
    void exp2IsAccurate() {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        int worst = 0;
        float worstX = 0;
        for (int i = 0; i < 200_000; i++) {
            float x = i < 796 ? -i * 0.125f : (float) (-rnd.nextDouble() * (i % 2 == 0 ? 99.4 : 2));
            float got = Attention.exp2Neg(x);
            float want = (float) Math.pow(2, x);
            int ulps = Math.abs(Float.floatToRawIntBits(got) - Float.floatToRawIntBits(want));
            if (ulps > worst) {
                worst = ulps;
                worstX = x;
            }
        }
        assertTrue(worst <= 2, "exp2 error " + worst + " ulp at x=" + worstX + " seed=" + seed);
        assertEquals(1f, Attention.exp2Neg(0f));
        assertEquals(0.5f, Attention.exp2Neg(-1f));
        assertEquals(0x1p-99f, Attention.exp2Neg(-99f));
        assertFlushedBelowThreshold(Attention::exp2Neg);
    }

    /**
     * Below about 2^-99.5 the exponentials are exactly 0 (negligible beside the softmax's largest term, 1): never a
     * tiny normal whose product with a value would be subnormal (slow), nor subnormal themselves; above it, normal.
     */
    /** One of the exponentials under test. */
    private interface Exp2 {
        float at(float x);
    }

    private static void assertFlushedBelowThreshold(Exp2 exp2) {
        for (float x = -99.4f; x > -99.5f; x = Math.nextDown(x)) {
            assertTrue(exp2.at(x) >= 0x1p-100f, "2^" + x);
        }
        for (float x : new float[] {-99.5f, -100f, -100.5f, -126f, -127f, -150f, -1000f, -1e30f,
                Float.NEGATIVE_INFINITY}) {
            assertEquals(0f, exp2.at(x), "2^" + x);
        }
    }

    /** The lazy path's exponential: same polynomial, bit-level clamp; also valid up to the headroom, 2^64. */
    @Test
    void exp2ClampedIsAccurate() {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        int worst = 0;
        float worstX = 0;
        for (int i = 0; i < 200_000; i++) {
            float x = (float) (rnd.nextDouble() * 163.4 - 99.4);
            float got = Attention.exp2Clamped(x);
            float want = (float) Math.pow(2, x);
            int ulps = Math.abs(Float.floatToRawIntBits(got) - Float.floatToRawIntBits(want));
            if (ulps > worst) {
                worst = ulps;
                worstX = x;
            }
        }
        assertTrue(worst <= 2, "exp2Clamped error " + worst + " ulp at x=" + worstX + " seed=" + seed);
        assertEquals(1f, Attention.exp2Clamped(0f));
        assertEquals(0x1p64f, Attention.exp2Clamped(64f));
        assertEquals(0x1p-99f, Attention.exp2Clamped(-99f));
        assertFlushedBelowThreshold(Attention::exp2Clamped);
        assertTrue(Attention.exp2Clamped(-0f) == 1f);
    }
}
