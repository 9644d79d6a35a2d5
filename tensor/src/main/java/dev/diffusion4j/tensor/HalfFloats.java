package dev.diffusion4j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * Conversions between float32 and the 16-bit formats (IEEE binary16 and bfloat16), bit-exact: round to
 * nearest even, subnormals, infinities and NaN preserved.
 *
 * <p>The bulk methods ({@link #toFloats}, {@link #f16ToFloats}, {@link #bf16ToFloats},
 * {@link #f32ToFloats}) convert little-endian elements of a {@link MemorySegment} (e.g. a memory-mapped
 * weight) into a {@code float[]}. Binary16 goes through a plain loop of {@link Float#float16ToFloat}, which C2
 * vectorises into the hardware conversion (F16 NaNs come out quiet, payload kept); bfloat16 uses the Vector API
 * when the JVM has {@code jdk.incubator.vector} and a scalar loop otherwise, with identical results (its bits are
 * copied as they are).
 */
public final class HalfFloats {
    private static final ValueLayout.OfShort I16_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Checked once: the vector class must not be loaded when the module is absent. */
    private static final boolean VECTOR = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

    private HalfFloats() {
    }

    /** bfloat16 bits to float32 (exact: a bfloat16 is the upper half of a float32). */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** float32 to bfloat16 bits, rounding to nearest even; NaN stays NaN (quiet). */
    public static short floatToBf16(float f) {
        int x = Float.floatToRawIntBits(f);
        if ((x & 0x7FFFFFFF) > 0x7F800000) {
            return (short) ((x >>> 16) | 0x0040);
        }
        int rounding = 0x7FFF + ((x >>> 16) & 1);
        return (short) ((x + rounding) >>> 16);
    }

    /** IEEE binary16 bits to float32 (exact). */
    public static float f16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /** float32 to IEEE binary16 bits, rounding to nearest even. */
    public static short floatToF16(float f) {
        return Float.floatToFloat16(f);
    }

    /**
     * Converts {@code count} little-endian elements of type {@code dtype} (any: {@link DType#Q8_0} is dequantised by
     * {@link Quantized#dequantize}), starting at element
     * {@code srcElement} of {@code src}, into {@code dst[dstOffset, dstOffset + count)}.
     *
     * @throws IndexOutOfBoundsException when either range is out of bounds
     */
    public static void toFloats(MemorySegment src, DType dtype, long srcElement, float[] dst, int dstOffset, int count) {
        Objects.requireNonNull(dtype, "dtype");
        if (dtype == DType.Q8_0) {
            Quantized.dequantize(src, srcElement, dst, dstOffset, count);
            return;
        }
        long byteOffset = Math.multiplyExact(srcElement, (long) dtype.byteSize());
        switch (dtype) {
            case F32 -> f32ToFloats(src, byteOffset, dst, dstOffset, count);
            case F16 -> f16ToFloats(src, byteOffset, dst, dstOffset, count);
            case BF16 -> bf16ToFloats(src, byteOffset, dst, dstOffset, count);
            case Q8_0 -> throw new AssertionError("handled above");
        }
    }

    /** Little-endian IEEE binary16 at {@code src[byteOffset ...]} to {@code count} floats (exact). */
    public static void f16ToFloats(MemorySegment src, long byteOffset, float[] dst, int dstOffset, int count) {
        checkRanges(src, byteOffset, 2, dst, dstOffset, count);
        // A plain loop: C2 vectorises it into the hardware conversion (vcvtph2ps on x86), 4x faster than the same
        // conversion written with the Vector API.
        for (int i = 0; i < count; i++) {
            dst[dstOffset + i] = Float.float16ToFloat(src.get(I16_LE, byteOffset + 2L * i));
        }
    }

    /** Little-endian bfloat16 at {@code src[byteOffset ...]} to {@code count} floats (exact). */
    public static void bf16ToFloats(MemorySegment src, long byteOffset, float[] dst, int dstOffset, int count) {
        checkRanges(src, byteOffset, 2, dst, dstOffset, count);
        if (VECTOR) {
            HalfFloatsVector.bf16ToFloats(src, byteOffset, dst, dstOffset, count);
        } else {
            for (int i = 0; i < count; i++) {
                dst[dstOffset + i] = bf16ToFloat(src.get(I16_LE, byteOffset + 2L * i));
            }
        }
    }

    /** Little-endian float32 at {@code src[byteOffset ...]} to {@code count} floats (a copy). */
    public static void f32ToFloats(MemorySegment src, long byteOffset, float[] dst, int dstOffset, int count) {
        checkRanges(src, byteOffset, 4, dst, dstOffset, count);
        MemorySegment.copy(src, F32_LE, byteOffset, dst, dstOffset, count);
    }

    private static void checkRanges(MemorySegment src, long byteOffset, int elementBytes,
                                    float[] dst, int dstOffset, int count) {
        Objects.requireNonNull(src, "src");
        Objects.checkFromIndexSize(dstOffset, count, dst.length);
        Objects.checkFromIndexSize(byteOffset, (long) count * elementBytes, src.byteSize());
    }
}
