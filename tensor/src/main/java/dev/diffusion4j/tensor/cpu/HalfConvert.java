package dev.diffusion4j.tensor.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorised conversion of little-endian bfloat16 runs to float32, in groups of 16 (512-bit float vectors). Binary16
 * needs no such code: a plain loop of {@link Float#float16ToFloat} is vectorised by C2 into the hardware conversion.
 */
final class HalfConvert {
    private static final VectorSpecies<Short> S16 = ShortVector.SPECIES_256;
    private static final VectorSpecies<Integer> I32 = IntVector.SPECIES_512;
    private static final int N = 16;

    private HalfConvert() {
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
