package dev.diffusion4j.tensor.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorised conversion of little-endian IEEE binary16 and bfloat16 runs to float32, bit-exact with
 * {@link Float#float16ToFloat} (subnormals, infinities, NaN payloads) and without subnormal float
 * arithmetic (which is slow on x86). Works in groups of 16 (512-bit float vectors).
 */
final class HalfConvert {
    private static final VectorSpecies<Short> S16 = ShortVector.SPECIES_256;
    private static final VectorSpecies<Integer> I32 = IntVector.SPECIES_512;
    private static final int N = 16;

    private HalfConvert() {
    }

    /** Converts the largest multiple of 16 of {@code len} binary16 values; returns how many it converted. */
    static int f16(MemorySegment seg, long byteOff, int len, float[] dst, int d) {
        int i = 0;
        for (; i + N <= len; i += N) {
            IntVector h = (IntVector) ShortVector.fromMemorySegment(S16, seg, byteOff + 2L * i, ByteOrder.LITTLE_ENDIAN)
                    .convertShape(VectorOperators.S2I, I32, 0);
            IntVector exp = h.and(0x7C00);
            IntVector bits = h.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
            // Normal numbers: rebias the exponent (15 -> 127); infinities and NaN: exponent all ones.
            IntVector normal = bits.add(112 << 23);
            VectorMask<Integer> special = exp.compare(VectorOperators.EQ, 0x7C00);
            IntVector r = normal.blend(bits.add(224 << 23), special);
            // Zeros and subnormals: mantissa · 2^-24, exact in normal float arithmetic.
            VectorMask<Integer> tiny = exp.compare(VectorOperators.EQ, 0);
            if (tiny.anyTrue()) {
                FloatVector sub = ((FloatVector) h.and(0x3FF).convert(VectorOperators.I2F, 0)).mul(0x1p-24f);
                r = r.blend(sub.reinterpretAsInts(), tiny);
            }
            r = r.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16));
            r.reinterpretAsFloats().intoArray(dst, d + i);
        }
        return i;
    }

    /** Converts the largest multiple of 16 of {@code len} bfloat16 values; returns how many it converted. */
    static int bf16(MemorySegment seg, long byteOff, int len, float[] dst, int d) {
        int i = 0;
        for (; i + N <= len; i += N) {
            IntVector h = (IntVector) ShortVector.fromMemorySegment(S16, seg, byteOff + 2L * i, ByteOrder.LITTLE_ENDIAN)
                    .convertShape(VectorOperators.S2I, I32, 0);
            h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, d + i);
        }
        return i;
    }
}
