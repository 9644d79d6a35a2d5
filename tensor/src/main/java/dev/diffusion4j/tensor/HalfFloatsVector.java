package dev.diffusion4j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API body of the {@link HalfFloats} bulk bfloat16 conversion, in its own class so that it is loaded
 * only when {@code jdk.incubator.vector} is present. Ranges are checked by the caller.
 */
final class HalfFloatsVector {
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    /** Half as many shorts as ints, so one short load widens to exactly one int vector. */
    private static final VectorSpecies<Short> S =
            VectorSpecies.of(short.class, VectorShape.forBitSize(I.vectorBitSize() / 2));
    private static final ValueLayout.OfShort I16_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private HalfFloatsVector() {
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
