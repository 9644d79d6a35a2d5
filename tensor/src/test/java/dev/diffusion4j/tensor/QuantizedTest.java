package dev.diffusion4j.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class QuantizedTest {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * Values with a different magnitude per block (1e-7 .. 1e3, some blocks all zero, some with a single outlier),
     * so scales span binary16 subnormals to large normals.
     */
    static float[] values(Random rnd, int n) {
        float[] v = new float[n];
        for (int b = 0; b < n / 32; b++) {
            int kind = rnd.nextInt(6);
            double mag = Math.pow(10, -7 + rnd.nextDouble() * 10);
            for (int j = 0; j < 32; j++) {
                v[b * 32 + j] = switch (kind) {
                    case 0 -> 0f;
                    case 1 -> j == 5 ? (float) mag : (float) (rnd.nextGaussian() * mag * 1e-3);
                    default -> (float) (rnd.nextGaussian() * mag);
                };
            }
        }
        return v;
    }

    static Tensor stored(Arena arena, float[] v, DType dtype, int... dims) {
        if (dtype == DType.F32 && arena == null) {
            return Tensor.of(v, dims);
        }
        MemorySegment seg = arena.allocate(dtype.storageBytes(v.length));
        for (int i = 0; i < v.length; i++) {
            switch (dtype) {
                case F32 -> seg.set(F32, 4L * i, v[i]);
                case F16 -> seg.set(I16, 2L * i, HalfFloats.floatToF16(v[i]));
                case BF16 -> seg.set(I16, 2L * i, HalfFloats.floatToBf16(v[i]));
                case Q8_0 -> throw new IllegalArgumentException();
            }
        }
        return Tensor.wrap(seg, dtype, Shape.of(dims));
    }

    /** The documented rule, written independently: smallest binary16 d with 127·d >= max|x|, q = rint(x / d). */
    static void referenceBlock(float[] x, int o, short[] dOut, byte[] qOut, int b) {
        float amax = 0;
        for (int j = 0; j < 32; j++) {
            amax = Math.max(amax, Math.abs(x[o + j]));
        }
        float want = amax / 127f;
        short h = Float.floatToFloat16(want);
        while (Float.float16ToFloat(h) < want) {
            h++;
        }
        dOut[b] = h;
        float d = Float.float16ToFloat(h);
        for (int j = 0; j < 32; j++) {
            qOut[b * 32 + j] = d == 0 ? 0 : (byte) Math.rint(x[o + j] / d);
        }
    }

    @ParameterizedTest(name = "{0} heap={1}")
    @CsvSource({"F32, true", "F32, false", "F16, false", "BF16, false"})
    void roundTripWithinHalfAScalePerBlock(DType dtype, boolean heap) {
        long seed = 91 + dtype.ordinal() * 7L + (heap ? 1 : 0);
        Random rnd = new Random(seed);
        int rows = 37;
        int in = 32 * 300; // more than one conversion chunk per tensor
        float[] raw = values(rnd, rows * in);
        try (Arena arena = Arena.ofConfined()) {
            Tensor src = stored(heap ? null : arena, raw, dtype, rows, in);
            float[] x = src.toFloatArray(); // what the quantiser sees (rounded through the dtype)
            Tensor q = Quantized.quantize(src, arena);
            assertEquals(DType.Q8_0, q.dtype());
            assertEquals(src.shape(), q.shape());
            assertEquals((long) rows * in / 32 * 34, q.segment().byteSize());
            float[] dq = q.toFloatArray();
            short[] refD = new short[rows * in / 32];
            byte[] refQ = new byte[rows * in];
            double worst = 0;
            for (int b = 0; b < refD.length; b++) {
                referenceBlock(x, b * 32, refD, refQ, b);
                float d = Quantized.scale(q, b);
                assertEquals(Float.float16ToFloat(refD[b]), d, "seed " + seed + " scale of block " + b);
                for (int j = 0; j < 32; j++) {
                    int i = b * 32 + j;
                    byte qi = Quantized.quant(q, i);
                    assertEquals(refQ[i], qi, "seed " + seed + " q of element " + i);
                    assertTrue(qi >= -127, "seed " + seed + " q >= -127");
                    assertEquals(qi * d, dq[i], "seed " + seed + " element " + i + " is q·d");
                    double err = Math.abs((double) x[i] - dq[i]);
                    // d/2 from rounding to an integer, plus the one float division's rounding (<= d·2^-17)
                    double bound = d / 2.0 + d * 0x1p-17;
                    if (!(err <= bound)) {
                        throw new AssertionError("seed " + seed + " element " + i + ": |x - dq| = " + err
                                + " > d/2 = " + d / 2 + " (x " + x[i] + ", d " + d + ")");
                    }
                    if (d > 0) {
                        worst = Math.max(worst, err / d);
                    }
                }
            }
            assertTrue(worst > 0.45, "the values do exercise the bound: worst |x - dq| / d = " + worst);
        }
    }

    @Test
    void getFlatToFloatArrayAndRangesAgree() {
        long seed = 5;
        Random rnd = new Random(seed);
        float[] raw = values(rnd, 64 * 96);
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Quantized.quantize(Tensor.of(raw, 64, 96), arena);
            float[] all = q.toFloatArray();
            for (int i = 0; i < all.length; i += 7) {
                assertEquals(all[i], q.getFlat(i), "seed " + seed + " getFlat " + i);
                assertEquals(all[i], q.get(i / 96, i % 96), "seed " + seed + " get " + i);
            }
            // any sub-range, block-aligned or not, through both bulk entries
            for (int t = 0; t < 200; t++) {
                int first = rnd.nextInt(all.length);
                int count = rnd.nextInt(all.length - first + 1);
                float[] got = new float[count + 3];
                Quantized.dequantize(q.segment(), first, got, 3, count);
                float[] got2 = new float[count];
                HalfFloats.toFloats(q.segment(), DType.Q8_0, first, got2, 0, count);
                for (int i = 0; i < count; i++) {
                    assertEquals(all[first + i], got[3 + i], "seed " + seed + " range from " + first + " element " + i);
                    assertEquals(all[first + i], got2[i], "seed " + seed + " toFloats from " + first);
                }
            }
            assertThrows(IndexOutOfBoundsException.class,
                    () -> Quantized.dequantize(q.segment(), all.length - 10, new float[20], 0, 11));
            assertThrows(IndexOutOfBoundsException.class,
                    () -> Quantized.dequantize(q.segment(), 0, new float[20], 5, 16));
        }
    }

    @Test
    void viewsOfWholeRows() {
        float[] raw = values(new Random(3), 8 * 64);
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Quantized.quantize(Tensor.of(raw, 8, 1, 64), arena);
            float[] all = q.toFloatArray();
            Tensor row = q.slice(5);
            assertEquals(Shape.of(1, 64), row.shape());
            assertEquals(DType.Q8_0, row.dtype());
            assertArrayEquals(java.util.Arrays.copyOfRange(all, 5 * 64, 6 * 64), row.toFloatArray());
            assertArrayEquals(java.util.Arrays.copyOfRange(all, 5 * 64, 6 * 64), row.slice(0).toFloatArray());
            Tensor flat = q.reshape(16, 32);
            assertArrayEquals(all, flat.toFloatArray());
            assertArrayEquals(java.util.Arrays.copyOfRange(all, 3 * 32, 4 * 32), flat.slice(3).toFloatArray());
            // rows of 16 elements would split blocks
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> q.reshape(32, 16).slice(1));
            assertTrue(e.getMessage().contains("slice") && e.getMessage().contains("[32, 16]"), e.getMessage());
            assertArrayEquals(all, q.toFloatArray());
        }
    }

    @Test
    void conv2dWeightRowsAreTheirInputSize() {
        // [Cout, Cin, 3, 3] with Cin·9 a multiple of 32; the last dimension (3) is not, and need not be
        float[] raw = values(new Random(11), 64 * 32 * 9);
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = Tensor.of(raw, 64, 32, 3, 3);
            assertTrue(Quantized.canQuantize(w));
            Tensor q = Quantized.quantize(w, arena);
            assertEquals(Shape.of(64, 32, 3, 3), q.shape());
            assertEquals(Shape.of(32, 3, 3), q.slice(63).shape());
        }
    }

    @Test
    void badInputIsRejectedByName() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor convIn = Tensor.zeros(320, 4, 3, 3); // 36 inputs per output: not whole blocks
            assertTrue(!Quantized.canQuantize(convIn));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Quantized.quantize(convIn, arena));
            assertTrue(e.getMessage().contains("quantize") && e.getMessage().contains("[320, 4, 3, 3]")
                    && e.getMessage().contains("36"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Quantized.quantize(Tensor.zeros(0, 32), arena));
            float[] v = new float[64];
            v[40] = Float.NaN;
            e = assertThrows(IllegalArgumentException.class, () -> Quantized.quantize(Tensor.of(v, 2, 32), arena));
            assertTrue(e.getMessage().contains("element 32") && e.getMessage().contains("[2, 32]"), e.getMessage());
            v[40] = Float.POSITIVE_INFINITY;
            assertThrows(IllegalArgumentException.class, () -> Quantized.quantize(Tensor.of(v, 2, 32), arena));
            v[40] = 1e7f; // 1e7 / 127 is beyond binary16's 65504
            assertThrows(IllegalArgumentException.class, () -> Quantized.quantize(Tensor.of(v, 2, 32), arena));
            v[40] = 65504f * 127f; // exactly representable scale: accepted
            Tensor ok = Quantized.quantize(Tensor.of(v, 2, 32), arena);
            assertEquals(65504f * 127f, ok.getFlat(40));
            Tensor q = Quantized.quantize(Tensor.zeros(2, 32), arena);
            e = assertThrows(IllegalArgumentException.class, () -> Quantized.quantize(q, arena));
            assertTrue(e.getMessage().contains("already"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Quantized.scale(Tensor.zeros(32), 0));
            assertThrows(IllegalStateException.class, DType.Q8_0::byteSize);
            // wrap: whole blocks of the right byte size only
            MemorySegment seg = arena.allocate(68);
            assertEquals(Shape.of(2, 32), Tensor.wrap(seg, DType.Q8_0, Shape.of(2, 32)).shape());
            e = assertThrows(IllegalArgumentException.class, () -> Tensor.wrap(seg, DType.Q8_0, Shape.of(4, 16)).slice(1));
            assertThrows(IllegalArgumentException.class, () -> Tensor.wrap(seg, DType.Q8_0, Shape.of(3, 32)));
            assertThrows(IllegalArgumentException.class, () -> Tensor.wrap(arena.allocate(34), DType.Q8_0, Shape.of(20)));
        }
    }

    @Test
    void zeroBlocksAndTinyScales() {
        float[] v = new float[96];
        v[33] = 1e-9f;   // scale far below binary16's smallest subnormal (6e-8): rounds up to it
        v[70] = -3e-5f;  // a subnormal scale (4 · 2^-24)
        v[71] = 1e-5f;
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Quantized.quantize(Tensor.of(v, 3, 32), arena);
            assertEquals(0f, Quantized.scale(q, 0));
            for (int i = 0; i < 32; i++) {
                assertEquals(0f, q.getFlat(i));
            }
            assertEquals(Float.float16ToFloat((short) 1), Quantized.scale(q, 1));
            assertEquals(0f, q.getFlat(33)); // 1e-9 is below half a step
            float d2 = Quantized.scale(q, 2);
            assertEquals(4 * 0x1p-24f, d2, "scale");
            assertTrue(Math.abs(q.getFlat(70) + 3e-5f) <= d2 / 2 && Math.abs(q.getFlat(71) - 1e-5f) <= d2 / 2);
        }
    }
}
