package dev.diffusion4j.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * 8-bit block quantisation ({@link DType#Q8_0}, ggml's {@code q8_0} layout): the elements of a tensor, in row-major
 * order, form blocks of {@value #BLOCK}; each block is stored as a little-endian binary16 scale {@code d} and
 * {@value #BLOCK} signed bytes {@code q} ({@value #BLOCK_BYTES} bytes, 8.5 bits per element), and stands for
 * {@code q · d}.
 *
 * <p>{@link #quantize} takes {@code d} as the smallest binary16 value with {@code 127 · d >= max|x|} (ggml rounds
 * {@code max|x| / 127} to nearest; rounding up keeps every {@code |q| <= 127} without clamping) and
 * {@code q = rint(x / d)}, so every element is within {@code d / 2} of its value (plus the rounding of the one
 * float division, at most {@code d · 2^-17}). Deterministic: the vector and scalar paths give identical bytes.
 *
 * <p>Blocks run along the last (input) dimension of a weight: {@link #quantize} requires the input size of every
 * output row ({@code numel / dim(0)}) to be a multiple of {@value #BLOCK}, so rows never share a block and a
 * view of whole rows ({@link Tensor#slice}, {@link Tensor#reshape}) stays block-aligned.
 */
public final class Quantized {
    /** Elements per block. */
    public static final int BLOCK = 32;
    /** Bytes per block: a binary16 scale and {@value #BLOCK} int8 values. */
    public static final int BLOCK_BYTES = 34;

    private static final ValueLayout.OfShort I16_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Checked once: the vector class must not be loaded when the module is absent. */
    private static final boolean VECTOR = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()
            && QuantizedVector.usable();
    /** Floats converted per chunk while quantising a segment tensor (a multiple of the block). */
    private static final int CHUNK = 256 * BLOCK;

    private Quantized() {
    }

    /** Whether {@link #quantize} accepts {@code t}: F32/F16/BF16 with an input size per row that is a multiple of 32. */
    public static boolean canQuantize(Tensor t) {
        return t != null && !t.dtype().isQuantized() && t.rank() >= 1 && t.numel() > 0
                && rowSize(t) % BLOCK == 0;
    }

    /** Elements per output row: {@code numel / dim(0)} (the whole tensor for rank 1). */
    private static long rowSize(Tensor t) {
        return t.rank() == 1 ? t.numel() : t.numel() / Math.max(1, t.dim(0));
    }

    /**
     * {@code src} (F32, F16 or BF16, heap or segment) as a {@link DType#Q8_0} tensor of the same shape in a new
     * segment of {@code arena} (the caller owns it and its lifetime).
     *
     * @throws IllegalArgumentException when {@code src} is already quantised, its input size per row
     *     ({@code numel / dim(0)}) is not a multiple of 32, or a block holds a NaN, an infinity, or a value too large
     *     for a binary16 scale (|x| above about 8.3e6)
     */
    public static Tensor quantize(Tensor src, Arena arena) {
        Objects.requireNonNull(src, "quantize: src is null");
        Objects.requireNonNull(arena, "quantize: arena is null");
        if (src.dtype().isQuantized()) {
            throw new IllegalArgumentException("quantize: tensor " + src.shape() + " is already " + src.dtype());
        }
        if (src.rank() < 1 || src.numel() == 0 || rowSize(src) % BLOCK != 0) {
            throw new IllegalArgumentException("quantize: Q8_0 needs an input size per row (numel / dim 0) that is a"
                    + " non-zero multiple of " + BLOCK + "; tensor " + src.shape() + " " + src.dtype() + " has "
                    + (src.rank() < 1 ? 0 : rowSize(src)));
        }
        long n = src.numel();
        MemorySegment dst = arena.allocate(DType.Q8_0.storageBytes(n), 64);
        float[] buf = src.isHeap() ? null : new float[(int) Math.min(CHUNK, n)];
        for (long e = 0; e < n; e += CHUNK) {
            int len = (int) Math.min(CHUNK, n - e);
            float[] x;
            int xOff;
            if (src.isHeap()) {
                x = src.array();
                xOff = src.offset() + (int) e;
            } else {
                HalfFloats.toFloats(src.segment(), src.dtype(), e, buf, 0, len);
                x = buf;
                xOff = 0;
            }
            quantizeBlocks(x, xOff, len / BLOCK, dst, e / BLOCK * BLOCK_BYTES, src, e);
        }
        return Tensor.wrap(dst, DType.Q8_0, src.shape());
    }

    private static void quantizeBlocks(float[] x, int xOff, int blocks, MemorySegment dst, long dstOff,
                                       Tensor src, long firstElement) {
        for (int b = 0; b < blocks; b++) {
            int o = xOff + b * BLOCK;
            long q = dstOff + (long) b * BLOCK_BYTES;
            float amax = VECTOR ? QuantizedVector.absMax(x, o) : absMax(x, o);
            short dBits = scaleBits(amax, src, firstElement + (long) b * BLOCK);
            dst.set(I16_LE, q, dBits);
            float d = Float.float16ToFloat(dBits);
            if (d == 0f) {
                dst.asSlice(q + 2, BLOCK).fill((byte) 0);
            } else if (VECTOR) {
                QuantizedVector.quantizeBlock(x, o, d, dst, q + 2);
            } else {
                for (int j = 0; j < BLOCK; j++) {
                    // rint of the float quotient: round half to even, as the vector path's add/subtract of 1.5·2^23
                    dst.set(ValueLayout.JAVA_BYTE, q + 2 + j, (byte) (int) Math.rint(x[o + j] / d));
                }
            }
        }
    }

    private static float absMax(float[] x, int o) {
        float m = 0f;
        for (int j = 0; j < BLOCK; j++) {
            m = Math.max(m, Math.abs(x[o + j]));
        }
        return m;
    }

    /** The binary16 scale of a block with maximum magnitude {@code amax}: the smallest d with 127·d >= amax. */
    static short scaleBits(float amax, Tensor src, long element) {
        float want = amax / 127f;
        short h = Float.floatToFloat16(want);
        if (!(amax <= Float.MAX_VALUE) || Float.isInfinite(Float.float16ToFloat(h))) {
            throw new IllegalArgumentException("quantize: block at element " + element + " of tensor " + src.shape()
                    + " has max |x| = " + amax + ", which a Q8_0 binary16 scale cannot hold");
        }
        if (Float.float16ToFloat(h) < want) {
            h++; // the next binary16 value up (h is positive and finite)
            if (Float.isInfinite(Float.float16ToFloat(h))) {
                throw new IllegalArgumentException("quantize: block at element " + element + " of tensor "
                        + src.shape() + " has max |x| = " + amax + ", which a Q8_0 binary16 scale cannot hold");
            }
        }
        return h;
    }

    /** The scale {@code d} of block {@code block} of a {@link DType#Q8_0} tensor. */
    public static float scale(Tensor q, long block) {
        requireQ8(q, "scale");
        Objects.checkIndex(block, q.numel() / BLOCK);
        return Float.float16ToFloat(q.segment().get(I16_LE, block * BLOCK_BYTES));
    }

    /** The int8 value of element {@code i} of a {@link DType#Q8_0} tensor. */
    public static byte quant(Tensor q, long i) {
        requireQ8(q, "quant");
        Objects.checkIndex(i, q.numel());
        return q.segment().get(ValueLayout.JAVA_BYTE, i / BLOCK * BLOCK_BYTES + 2 + i % BLOCK);
    }

    private static void requireQ8(Tensor q, String op) {
        if (q.dtype() != DType.Q8_0) {
            throw new IllegalArgumentException(op + ": tensor " + q.shape() + " is " + q.dtype() + ", not Q8_0");
        }
    }

    /** Element {@code i} of Q8_0 blocks stored in {@code seg} (from its start). */
    public static float get(MemorySegment seg, long i) {
        long base = i / BLOCK * BLOCK_BYTES;
        return seg.get(ValueLayout.JAVA_BYTE, base + 2 + i % BLOCK) * Float.float16ToFloat(seg.get(I16_LE, base));
    }

    /**
     * Dequantises elements {@code [first, first + count)} of the Q8_0 blocks stored in {@code seg} (from its start)
     * into {@code dst[dstOffset, dstOffset + count)}: whole blocks with vectors, the partial blocks at either end
     * element by element (identical values: {@code q · d} is exact in float32).
     *
     * @throws IndexOutOfBoundsException when either range is out of bounds
     */
    public static void dequantize(MemorySegment seg, long first, float[] dst, int dstOffset, int count) {
        Objects.requireNonNull(seg, "seg");
        Objects.checkFromIndexSize(dstOffset, count, dst.length);
        if (count == 0) {
            return;
        }
        if (first < 0 || (first + count + BLOCK - 1) / BLOCK * BLOCK_BYTES > seg.byteSize()) {
            throw new IndexOutOfBoundsException("dequantize: elements [" + first + ", " + (first + count)
                    + ") are not inside " + seg.byteSize() / BLOCK_BYTES + " blocks");
        }
        long e = first;
        int d = dstOffset;
        int left = count;
        while (left > 0) {
            long base = e / BLOCK * BLOCK_BYTES;
            int in = (int) (e % BLOCK);
            int n = Math.min(BLOCK - in, left);
            float scale = Float.float16ToFloat(seg.get(I16_LE, base));
            if (n == BLOCK && VECTOR) {
                QuantizedVector.dequantizeBlock(seg, base + 2, scale, dst, d);
            } else {
                for (int j = 0; j < n; j++) {
                    dst[d + j] = seg.get(ValueLayout.JAVA_BYTE, base + 2 + in + j) * scale;
                }
            }
            e += n;
            d += n;
            left -= n;
        }
    }
}
