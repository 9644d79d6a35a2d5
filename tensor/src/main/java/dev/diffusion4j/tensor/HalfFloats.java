package dev.diffusion4j.tensor;

/**
 * Conversions between float32 and the 16-bit formats (IEEE binary16 and bfloat16), bit-exact: round to
 * nearest even, subnormals, infinities and NaN preserved.
 */
public final class HalfFloats {
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
}
