package dev.diffusion4j.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class HalfFloatsTest {
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    // ---- independent references: exact double arithmetic, round half to even with Math.rint ----

    /**
     * binary16 bits of {@code f}, rounding to nearest even. A float is exact as a double; scaling by a
     * power of two is exact, so rint of the scaled value is the exact RNE mantissa. With e clamped to the
     * subnormal exponent, bits = ((e + 14) << 10) + mantissa covers subnormals, normals and the carry into
     * the next binade alike.
     */
    static int refF16(float f) {
        int sign = (Float.floatToRawIntBits(f) >>> 16) & 0x8000;
        if (Float.isNaN(f)) {
            return -1;
        }
        double a = Math.abs((double) f);
        if (Double.isInfinite(a)) {
            return sign | 0x7C00;
        }
        if (a == 0) {
            return sign;
        }
        int e = Math.max(Math.getExponent(a), -14);
        double m = Math.rint(Math.scalb(a, 10 - e));
        long bits = ((long) (e + 14) << 10) + (long) m;
        if (bits >= 0x7C00) {
            return sign | 0x7C00;
        }
        return sign | (int) bits;
    }

    /** bfloat16 bits of {@code f} (RNE), same construction with 7 mantissa bits and exponent floor -126. */
    static int refBf16(float f) {
        int sign = (Float.floatToRawIntBits(f) >>> 16) & 0x8000;
        if (Float.isNaN(f)) {
            return -1;
        }
        double a = Math.abs((double) f);
        if (Double.isInfinite(a)) {
            return sign | 0x7F80;
        }
        if (a == 0) {
            return sign;
        }
        int e = Math.max(Math.getExponent(a), -126);
        double m = Math.rint(Math.scalb(a, 7 - e));
        long bits = ((long) (e + 126) << 7) + (long) m;
        if (bits >= 0x7F80) {
            return sign | 0x7F80;
        }
        return sign | (int) bits;
    }

    /** Value of binary16 bits by the definition (independent of Float.float16ToFloat). */
    static double f16Value(int h) {
        int sign = (h & 0x8000) != 0 ? -1 : 1;
        int e = (h >>> 10) & 0x1F;
        int m = h & 0x3FF;
        if (e == 0x1F) {
            return m == 0 ? sign * Double.POSITIVE_INFINITY : Double.NaN;
        }
        if (e == 0) {
            return sign * Math.scalb((double) m, -24);
        }
        return sign * Math.scalb((double) (m | 0x400), e - 25);
    }

    private static void checkF16(float f, String what) {
        int got = HalfFloats.floatToF16(f) & 0xFFFF;
        int want = refF16(f);
        if (want < 0) {
            assertTrue((got & 0x7C00) == 0x7C00 && (got & 0x3FF) != 0, what + ": NaN must stay NaN, got " + Integer.toHexString(got));
        } else {
            assertEquals(want, got, () -> what + ": f32->f16 of " + f + " (0x" + Integer.toHexString(Float.floatToRawIntBits(f)) + ")");
        }
    }

    private static void checkBf16(float f, String what) {
        int got = HalfFloats.floatToBf16(f) & 0xFFFF;
        int want = refBf16(f);
        if (want < 0) {
            assertTrue((got & 0x7F80) == 0x7F80 && (got & 0x7F) != 0, what + ": NaN must stay NaN, got " + Integer.toHexString(got));
        } else {
            assertEquals(want, got, () -> what + ": f32->bf16 of " + f + " (0x" + Integer.toHexString(Float.floatToRawIntBits(f)) + ")");
        }
    }

    @Test
    void everyF16RoundTripsExactly() {
        for (int h = 0; h < 0x10000; h++) {
            float f = HalfFloats.f16ToFloat((short) h);
            double v = f16Value(h);
            int hh = h;
            if (Double.isNaN(v)) {
                assertTrue(Float.isNaN(f), () -> "f16 NaN 0x" + Integer.toHexString(hh));
                int back = HalfFloats.floatToF16(f) & 0xFFFF;
                assertTrue((back & 0x7C00) == 0x7C00 && (back & 0x3FF) != 0, () -> "NaN 0x" + Integer.toHexString(hh) + " came back as a non-NaN");
                continue;
            }
            assertEquals(v, (double) f, () -> "f16 0x" + Integer.toHexString(hh) + " value");
            assertEquals(h, HalfFloats.floatToF16(f) & 0xFFFF, () -> "f16 0x" + Integer.toHexString(hh) + " round trip");
            checkF16(f, "all-f16");
        }
    }

    @Test
    void everyBf16RoundTripsExactly() {
        for (int h = 0; h < 0x10000; h++) {
            float f = HalfFloats.bf16ToFloat((short) h);
            int hh = h;
            assertEquals(h << 16, Float.floatToRawIntBits(f), () -> "bf16 0x" + Integer.toHexString(hh) + " bits");
            int back = HalfFloats.floatToBf16(f) & 0xFFFF;
            if (Float.isNaN(f)) {
                assertTrue((back & 0x7F80) == 0x7F80 && (back & 0x7F) != 0, () -> "NaN 0x" + Integer.toHexString(hh));
            } else {
                assertEquals(h, back, () -> "bf16 0x" + Integer.toHexString(hh) + " round trip");
            }
        }
    }

    @Test
    void roundingOfRandomFloatsMatchesReference() {
        long seed = System.nanoTime();
        SplittableRandom rnd = new SplittableRandom(seed);
        String what = "seed " + seed;
        for (int i = 0; i < 3_000_000; i++) {
            float f = Float.intBitsToFloat(rnd.nextInt());
            checkF16(f, what);
            checkBf16(f, what);
            // values in (and around) binary16's range are the interesting ones for F16
            float g = (float) (rnd.nextDouble(-70000, 70000) * Math.scalb(1.0, -rnd.nextInt(0, 30)));
            checkF16(g, what);
            checkBf16(g, what);
        }
    }

    @Test
    void edgeCasesAndExactTies() {
        float[] edges = {0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE, -Float.MAX_VALUE,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.intBitsToFloat(0x7F800001),
                Float.intBitsToFloat(0xFFC00000), 65504f, 65519.99f, 65520f, -65520f, 65536f, 0x1p-14f, 0x1p-24f,
                0x1p-25f, 0x1.000002p-25f, 0x1.8p-24f, 0x1p-26f, 6.0e-8f, 1f, -1f};
        for (float f : edges) {
            checkF16(f, "edge");
            checkBf16(f, "edge");
        }
        // ties: exactly half-way between consecutive 16-bit values, both parities, every binade
        for (int h = 0; h < 0x7C00; h++) {
            double lo = f16Value(h);
            double hi = f16Value(h + 1);
            float mid = (float) ((lo + hi) / 2); // exact: needs at most 12 significant bits
            checkF16(mid, "f16 tie after 0x" + Integer.toHexString(h));
            checkF16(-mid, "f16 tie after -0x" + Integer.toHexString(h));
            checkF16(Math.nextUp(mid), "f16 above tie");
            checkF16(Math.nextDown(mid), "f16 below tie");
        }
        for (int h = 0; h < 0x7F80; h++) {
            float lo = HalfFloats.bf16ToFloat((short) h);
            float mid = Float.intBitsToFloat((h << 16) | 0x8000);
            checkBf16(mid, "bf16 tie after " + lo);
            checkBf16(-mid, "bf16 tie after -" + lo);
        }
        assertEquals(0x7C00, HalfFloats.floatToF16(65520f) & 0xFFFF, "65520 rounds to +inf (tie to even)");
        assertEquals(0x7BFF, HalfFloats.floatToF16(Math.nextDown(65520f)) & 0xFFFF, "just below 65520 stays finite");
        assertEquals(0x0000, HalfFloats.floatToF16(0x1p-25f) & 0xFFFF, "2^-25 ties to even zero");
        assertEquals(0x0001, HalfFloats.floatToF16(Math.nextUp(0x1p-25f)) & 0xFFFF, "above 2^-25 rounds to the smallest subnormal");
        assertEquals(0x8000, HalfFloats.floatToF16(-0f) & 0xFFFF, "-0 keeps its sign");
        assertEquals(0x7F80, HalfFloats.floatToBf16(Float.MAX_VALUE) & 0xFFFF, "bf16 overflow to +inf");
    }

    // ---- bulk conversions ----

    private static MemorySegment shorts(int[] values) {
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 2 + 6]);
        for (int i = 0; i < values.length; i++) {
            seg.set(I16_LE, 6 + 2L * i, (short) values[i]); // odd-ish offset: unaligned start
        }
        return seg;
    }

    @Test
    void bulkF16AndBf16MatchScalarForAllValues() {
        int[] all = new int[0x10000 + 13];
        for (int i = 0; i < all.length; i++) {
            all[i] = i & 0xFFFF;
        }
        MemorySegment seg = shorts(all);
        float[] dst = new float[all.length + 5];
        for (int count : new int[] {all.length, 1, 15, 17, 31, 100}) {
            HalfFloats.f16ToFloats(seg, 6, dst, 3, count);
            for (int i = 0; i < count; i++) {
                float want = HalfFloats.f16ToFloat((short) all[i]);
                int ii = i;
                if (Float.isNaN(want)) {
                    // NaN payload/quietness is not specified (the scalar intrinsic quiets it, the interpreter may not)
                    assertTrue(Float.isNaN(dst[3 + i]), () -> "f16 bulk NaN 0x" + Integer.toHexString(all[ii]));
                    continue;
                }
                assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(dst[3 + i]),
                        () -> "f16 bulk 0x" + Integer.toHexString(all[ii]));
            }
            HalfFloats.bf16ToFloats(seg, 6, dst, 3, count);
            for (int i = 0; i < count; i++) {
                int ii = i;
                assertEquals(all[i] << 16, Float.floatToRawIntBits(dst[3 + i]), () -> "bf16 bulk 0x" + Integer.toHexString(all[ii]));
            }
        }
    }

    @Test
    void bulkF32AndGenericDispatch() {
        int n = 1003;
        MemorySegment seg = MemorySegment.ofArray(new byte[n * 4]);
        SplittableRandom rnd = new SplittableRandom(5);
        float[] want = new float[n];
        for (int i = 0; i < n; i++) {
            want[i] = (float) rnd.nextGaussian();
            seg.set(F32_LE, 4L * i, want[i]);
        }
        float[] got = new float[n];
        HalfFloats.toFloats(seg, DType.F32, 0, got, 0, n);
        for (int i = 0; i < n; i++) {
            assertEquals(want[i], got[i]);
        }
        float[] part = new float[10];
        HalfFloats.toFloats(seg, DType.F32, 500, part, 2, 8);
        assertEquals(want[500], part[2]);
        assertEquals(want[507], part[9]);
        // F16 dispatch by element offset
        MemorySegment h = shorts(new int[] {0x3C00, 0x4000, 0xC200});
        HalfFloats.toFloats(h.asSlice(6), DType.F16, 1, part, 0, 2);
        assertEquals(2f, part[0]);
        assertEquals(-3f, part[1]);
        HalfFloats.toFloats(h.asSlice(6), DType.BF16, 0, part, 0, 1);
        assertEquals(HalfFloats.bf16ToFloat((short) 0x3C00), part[0]);
    }

    @Test
    void bulkRejectsOutOfRange() {
        MemorySegment seg = MemorySegment.ofArray(new byte[32]);
        float[] dst = new float[16];
        assertThrows(IndexOutOfBoundsException.class, () -> HalfFloats.f16ToFloats(seg, 2, dst, 0, 16));
        assertThrows(IndexOutOfBoundsException.class, () -> HalfFloats.bf16ToFloats(seg, 0, dst, 1, 16));
        assertThrows(IndexOutOfBoundsException.class, () -> HalfFloats.f32ToFloats(seg, 0, dst, 0, 9));
        assertThrows(IndexOutOfBoundsException.class, () -> HalfFloats.toFloats(seg, DType.F16, -1, dst, 0, 1));
    }
}
