package dev.diffusion4j.tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API bodies of {@link Quantized}, in their own class so that it is loaded only when
 * {@code jdk.incubator.vector} is present. One block is {@code 32 / lanes} float vectors and as many byte vectors
 * of the same lane count (16 bytes for 16 float lanes). Ranges are checked by the caller.
 */
final class QuantizedVector {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** As many bytes as float lanes (null when too few lanes for a byte vector shape). */
    private static final VectorSpecies<Byte> B = L >= 8 ? VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8)) : null;
    /** 1.5 · 2^23: adding and subtracting it rounds a float below 2^22 in magnitude to an integer, half to even. */
    private static final float RINT = 12582912f;

    private QuantizedVector() {
    }

    /** At least 8 float lanes that divide a block. */
    static boolean usable() {
        return B != null && Quantized.BLOCK % L == 0;
    }

    static float absMax(float[] x, int o) {
        FloatVector m = FloatVector.fromArray(F, x, o).abs();
        for (int v = L; v < Quantized.BLOCK; v += L) {
            // lanewise max as Math.max: a NaN propagates (the caller rejects it)
            m = m.lanewise(VectorOperators.MAX, FloatVector.fromArray(F, x, o + v).abs());
        }
        return m.reduceLanes(VectorOperators.MAX);
    }

    static void quantizeBlock(float[] x, int o, float d, MemorySegment dst, long q) {
        for (int v = 0; v < Quantized.BLOCK; v += L) {
            FloatVector r = FloatVector.fromArray(F, x, o + v).div(d).add(RINT).sub(RINT);
            ((ByteVector) r.convertShape(VectorOperators.F2B, B, 0)).intoMemorySegment(dst, q + v, ByteOrder.LITTLE_ENDIAN);
        }
    }

    static void dequantizeBlock(MemorySegment seg, long q, float d, float[] dst, int o) {
        for (int v = 0; v < Quantized.BLOCK; v += L) {
            FloatVector f = (FloatVector) ByteVector.fromMemorySegment(B, seg, q + v, ByteOrder.LITTLE_ENDIAN)
                    .convertShape(VectorOperators.B2F, F, 0);
            f.mul(d).intoArray(dst, o + v);
        }
    }
}
