package dev.diffusion4j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API bodies of the {@link HalfFloats} bulk conversions, in their own class so that it is loaded
 * only when {@code jdk.incubator.vector} is present. Ranges are checked by the caller.
 */
final class HalfFloatsVector {
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    /** Half as many shorts as ints, so one short load widens to exactly one int vector. */
    private static final VectorSpecies<Short> S =
            VectorSpecies.of(short.class, VectorShape.forBitSize(I.vectorBitSize() / 2));
    private static final ValueLayout.OfShort I16_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** 2^112: rescales a binary16 exponent (bias 15) placed in a binary32 (bias 127); exact, also for subnormals. */
    private static final float TWO_POW_112 = 0x1p112f;

    private HalfFloatsVector() {
    }

    static void f16ToFloats(MemorySegment src, long byteOffset, float[] dst, int dstOffset, int count) {
        int lanes = I.length();
        int i = 0;
        for (; i <= count - lanes; i += lanes) {
            IntVector h = widen(src, byteOffset + 2L * i);
            IntVector sign = h.and(0x8000).lanewise(VectorOperators.LSHL, 16);
            IntVector em = h.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
            FloatVector finite = em.reinterpretAsFloats().mul(TWO_POW_112);
            // exponent 31: infinity or NaN; binary32 exponent all ones, payload kept, NaNs made quiet (as the
            // x86 conversion instruction behind the scalar intrinsic does)
            VectorMask<Integer> special = h.and(0x7C00).compare(VectorOperators.EQ, 0x7C00);
            VectorMask<Integer> nan = h.and(0x7FFF).compare(VectorOperators.GT, 0x7C00);
            IntVector inf = em.or(0x7F800000);
            IntVector bits = finite.reinterpretAsInts().blend(inf, special).blend(inf.or(0x00400000), nan);
            bits.or(sign).reinterpretAsFloats().intoArray(dst, dstOffset + i);
        }
        for (; i < count; i++) {
            dst[dstOffset + i] = Float.float16ToFloat(src.get(I16_LE, byteOffset + 2L * i));
        }
    }

    static void bf16ToFloats(MemorySegment src, long byteOffset, float[] dst, int dstOffset, int count) {
        int lanes = I.length();
        int i = 0;
        for (; i <= count - lanes; i += lanes) {
            IntVector h = widen(src, byteOffset + 2L * i);
            h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, dstOffset + i);
        }
        for (; i < count; i++) {
            dst[dstOffset + i] = HalfFloats.bf16ToFloat(src.get(I16_LE, byteOffset + 2L * i));
        }
    }

    /** Loads {@code I.length()} little-endian shorts and zero-extends them to ints. */
    private static IntVector widen(MemorySegment src, long byteOffset) {
        ShortVector s = ShortVector.fromMemorySegment(S, src, byteOffset, ByteOrder.LITTLE_ENDIAN);
        return ((IntVector) s.convertShape(VectorOperators.S2I, I, 0)).and(0xFFFF);
    }
}
