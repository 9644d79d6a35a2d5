package dev.diffusion4j.weights;

import dev.diffusion4j.tensor.DType;
import java.util.Optional;

/** The element types a {@code .safetensors} header may name, with their size in bytes. */
public enum SafeTensorsDType {
    /** IEEE binary64. */
    F64(8, true),
    /** IEEE binary32. */
    F32(4, true),
    /** IEEE binary16. */
    F16(2, true),
    /** bfloat16. */
    BF16(2, true),
    /** 8-bit float, 4 exponent bits, 3 mantissa bits, no infinities ("fn" variant, max 448). */
    F8_E4M3(1, true),
    /** 8-bit float, 5 exponent bits, 2 mantissa bits (the upper byte of a binary16). */
    F8_E5M2(1, true),
    /** Signed 64-bit integer. */
    I64(8, false),
    /** Signed 32-bit integer. */
    I32(4, false),
    /** Signed 16-bit integer. */
    I16(2, false),
    /** Signed 8-bit integer. */
    I8(1, false),
    /** Unsigned 64-bit integer. */
    U64(8, false),
    /** Unsigned 32-bit integer. */
    U32(4, false),
    /** Unsigned 16-bit integer. */
    U16(2, false),
    /** Unsigned 8-bit integer. */
    U8(1, false),
    /** Boolean, one byte per element (0 or 1). */
    BOOL(1, false);

    private final int byteSize;
    private final boolean floating;

    SafeTensorsDType(int byteSize, boolean floating) {
        this.byteSize = byteSize;
        this.floating = floating;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** True for the floating-point types. */
    public boolean isFloatingPoint() {
        return floating;
    }

    /** The type called {@code name} in a header ("F32", "BF16", ...), if it is one. */
    public static Optional<SafeTensorsDType> parse(String name) {
        for (SafeTensorsDType t : values()) {
            if (t.name().equals(name)) {
                return Optional.of(t);
            }
        }
        return Optional.empty();
    }

    /** The {@link DType} a {@link dev.diffusion4j.tensor.Tensor} can hold this type as without conversion, if any. */
    public Optional<DType> tensorDType() {
        return switch (this) {
            case F32 -> Optional.of(DType.F32);
            case F16 -> Optional.of(DType.F16);
            case BF16 -> Optional.of(DType.BF16);
            default -> Optional.empty();
        };
    }

    /** The header name of a {@link DType}. */
    public static SafeTensorsDType of(DType t) {
        return switch (t) {
            case F32 -> F32;
            case F16 -> F16;
            case BF16 -> BF16;
            case Q8_0 -> throw new IllegalArgumentException("safetensors has no type for " + t
                    + " (block-quantised); dequantise it first");
        };
    }
}
