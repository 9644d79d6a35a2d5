package dev.diffusion4j.tensor;

/** Element types a tensor can be stored in. Compute is always float32; the others are storage formats. */
public enum DType {
    /** IEEE 754 binary32. */
    F32(4, 1),
    /** IEEE 754 binary16 (half precision). */
    F16(2, 1),
    /** bfloat16: the upper 16 bits of a binary32. */
    BF16(2, 1),
    /**
     * 8-bit block-quantised, ggml's {@code q8_0} layout: the elements (in row-major order) form blocks of 32,
     * each stored as 34 bytes, a little-endian IEEE binary16 scale {@code d} followed by 32 signed bytes
     * {@code q}; element = {@code q · d}. Made by {@link Quantized#quantize}; weights only.
     */
    Q8_0(34, 32);

    private final int blockBytes;
    private final int blockSize;

    DType(int blockBytes, int blockSize) {
        this.blockBytes = blockBytes;
        this.blockSize = blockSize;
    }

    /**
     * Bytes per element of a scalar type (F32, F16, BF16).
     *
     * @throws IllegalStateException for a block type ({@link #Q8_0}), whose elements have no whole byte size: use
     *     {@link #storageBytes}
     */
    public int byteSize() {
        if (blockSize != 1) {
            throw new IllegalStateException(this + " is stored in blocks of " + blockSize + " elements ("
                    + blockBytes + " bytes each): it has no byte size per element");
        }
        return blockBytes;
    }

    /** Elements per storage block: 1 for the scalar types, 32 for {@link #Q8_0}. */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per storage block (the element size of a scalar type). */
    public int blockBytes() {
        return blockBytes;
    }

    /** True for a block-quantised type ({@link #Q8_0}). */
    public boolean isQuantized() {
        return blockSize != 1;
    }

    /**
     * Bytes that {@code elements} elements take.
     *
     * @throws IllegalArgumentException when {@code elements} is negative or not a whole number of blocks
     */
    public long storageBytes(long elements) {
        if (elements < 0 || elements % blockSize != 0) {
            throw new IllegalArgumentException(elements + " elements are not a whole number of " + this
                    + " blocks (" + blockSize + " elements each)");
        }
        return Math.multiplyExact(elements / blockSize, (long) blockBytes);
    }
}
