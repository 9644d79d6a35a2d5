package dev.diffusion4j.weights;

import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.HalfFloats;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;

/**
 * A typed, zero-copy view of one tensor of a safetensors file: its bytes stay in the mapping, elements are
 * converted on demand. Valid until the owning {@link SafeTensors} is closed.
 */
public final class StoredTensor {
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64_LE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final float[] E4M3 = new float[256];
    private static final float[] E5M2 = new float[256];

    static {
        for (int b = 0; b < 256; b++) {
            E4M3[b] = e4m3ToFloat(b);
            // E5M2 is the upper byte of a binary16.
            E5M2[b] = Float.float16ToFloat((short) (b << 8));
        }
    }

    private final Path file;
    private final String name;
    private final SafeTensorsDType dtype;
    private final long[] shape;
    private final long numel;
    private final MemorySegment data;

    StoredTensor(Path file, String name, SafeTensorsDType dtype, long[] shape, MemorySegment data) {
        this.file = file;
        this.name = name;
        this.dtype = dtype;
        this.shape = shape.clone();
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        this.numel = n;
        this.data = data;
        if (Math.multiplyExact(n, (long) dtype.byteSize()) != data.byteSize()) {
            throw new SafeTensorsException(file, "tensor '" + name + "': " + dtype + " " + Arrays.toString(shape)
                    + " needs " + n * dtype.byteSize() + " bytes, has " + data.byteSize());
        }
    }

    /** Float value of an F8 E4M3 ("fn": no infinities, S.1111.111 is NaN) byte. */
    static float e4m3ToFloat(int b) {
        int sign = (b >> 7) & 1;
        int exp = (b >> 3) & 0xF;
        int man = b & 7;
        float v;
        if (exp == 15 && man == 7) {
            v = Float.NaN;
        } else if (exp == 0) {
            v = man * 0x1p-9f;
        } else {
            v = (1 + man / 8f) * (float) Math.scalb(1.0, exp - 7);
        }
        return sign == 1 ? -v : v;
    }

    /** The tensor's name in the file. */
    public String name() {
        return name;
    }

    /** The stored element type. */
    public SafeTensorsDType dtype() {
        return dtype;
    }

    /** A copy of the shape. */
    public long[] shape() {
        return shape.clone();
    }

    /** Number of elements. */
    public long numel() {
        return numel;
    }

    /** Number of bytes in the file. */
    public long byteSize() {
        return data.byteSize();
    }

    /** The raw little-endian bytes (a view into the mapping). */
    public MemorySegment bytes() {
        return data;
    }

    /** The same bytes seen with another shape of the same element count (e.g. a 1×1 conv as a linear weight). */
    public StoredTensor reshape(long... newShape) {
        long n = 1;
        for (long d : newShape) {
            if (d < 0) {
                throw new IllegalArgumentException("reshape of '" + name + "': negative dimension in "
                        + Arrays.toString(newShape));
            }
            n = Math.multiplyExact(n, d);
        }
        if (n != numel) {
            throw new IllegalArgumentException("reshape of '" + name + "': " + Arrays.toString(shape) + " to "
                    + Arrays.toString(newShape) + " changes the element count");
        }
        return new StoredTensor(file, name, dtype, newShape, data);
    }

    /**
     * Rows {@code [from, from + count)} of the first dimension as a view of the same bytes (e.g. q, k or v of a
     * fused {@code in_proj_weight [3D, D]}, split without copying).
     */
    public StoredTensor rows(long from, long count) {
        if (shape.length == 0 || from < 0 || count < 0 || from + count > shape[0]) {
            throw new IllegalArgumentException("rows of '" + name + "': [" + from + ", " + (from + count)
                    + ") is outside the first dimension of " + Arrays.toString(shape));
        }
        long rowBytes = shape[0] == 0 ? 0 : data.byteSize() / shape[0];
        long[] s = shape.clone();
        s[0] = count;
        return new StoredTensor(file, name, dtype, s, data.asSlice(from * rowBytes, count * rowBytes));
    }

    /** Element {@code i} (row-major) converted to float32; integer types convert their value. */
    public float getFloat(long i) {
        Objects.checkIndex(i, numel);
        return switch (dtype) {
            case F32 -> data.get(F32_LE, i * 4);
            case F64 -> (float) data.get(F64_LE, i * 8);
            case F16 -> Float.float16ToFloat(data.get(I16_LE, i * 2));
            case BF16 -> HalfFloats.bf16ToFloat(data.get(I16_LE, i * 2));
            case F8_E4M3 -> E4M3[data.get(ValueLayout.JAVA_BYTE, i) & 0xFF];
            case F8_E5M2 -> E5M2[data.get(ValueLayout.JAVA_BYTE, i) & 0xFF];
            case U64 -> unsigned64ToFloat(data.get(I64_LE, i * 8));
            default -> (float) getLong(i);
        };
    }

    private static float unsigned64ToFloat(long v) {
        return v >= 0 ? (float) v : (float) ((v >>> 1) | (v & 1)) * 2f;
    }

    /** Element {@code i} of an integer or BOOL tensor as a long (U64 values above 2^63 wrap). */
    public long getLong(long i) {
        Objects.checkIndex(i, numel);
        return switch (dtype) {
            case I64, U64 -> data.get(I64_LE, i * 8);
            case I32 -> data.get(I32_LE, i * 4);
            case U32 -> data.get(I32_LE, i * 4) & 0xFFFF_FFFFL;
            case I16 -> data.get(I16_LE, i * 2);
            case U16 -> data.get(I16_LE, i * 2) & 0xFFFF;
            case I8 -> data.get(ValueLayout.JAVA_BYTE, i);
            case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, i) & 0xFF;
            default -> throw new IllegalArgumentException("tensor '" + name + "' of " + file + " has dtype " + dtype
                    + ", not an integer type");
        };
    }

    /** Converts elements {@code [from, from + len)} to float32 into {@code dst[off..]}; works past 2^31 elements. */
    public void copyToFloats(long from, float[] dst, int off, int len) {
        Objects.checkFromIndexSize(from, len, numel);
        Objects.checkFromIndexSize(off, len, dst.length);
        if (dtype == SafeTensorsDType.F32) {
            MemorySegment.copy(data, F32_LE, from * 4, dst, off, len);
            return;
        }
        if (dtype == SafeTensorsDType.F16 || dtype == SafeTensorsDType.BF16) {
            // Bulk copy of the raw halves, then convert: avoids a bounds-checked access per element.
            short[] tmp = new short[Math.min(len, 8192)];
            boolean f16 = dtype == SafeTensorsDType.F16;
            for (int k = 0; k < len; k += tmp.length) {
                int n = Math.min(tmp.length, len - k);
                MemorySegment.copy(data, I16_LE, (from + k) * 2, tmp, 0, n);
                int d = off + k;
                if (f16) {
                    for (int j = 0; j < n; j++) {
                        dst[d + j] = Float.float16ToFloat(tmp[j]);
                    }
                } else {
                    for (int j = 0; j < n; j++) {
                        dst[d + j] = HalfFloats.bf16ToFloat(tmp[j]);
                    }
                }
            }
            return;
        }
        for (int k = 0; k < len; k++) {
            dst[off + k] = getFloat(from + k);
        }
    }

    /** All elements as a new float32 array. */
    public float[] toFloatArray() {
        float[] out = new float[heapLength()];
        copyToFloats(0, out, 0, out.length);
        return out;
    }

    /** All elements of an integer or BOOL tensor as a new long array. */
    public long[] toLongArray() {
        long[] out = new long[heapLength()];
        for (int i = 0; i < out.length; i++) {
            out[i] = getLong(i);
        }
        return out;
    }

    private int heapLength() {
        if (numel > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor '" + name + "' of " + file + " has " + numel
                    + " elements, too many for one Java array; use copyToFloats in chunks");
        }
        return (int) numel;
    }

    private Shape tensorShape() {
        int[] dims = new int[shape.length];
        for (int i = 0; i < dims.length; i++) {
            if (shape[i] > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("tensor '" + name + "' of " + file + ": dimension " + shape[i]
                        + " does not fit a Tensor shape");
            }
            dims[i] = (int) shape[i];
        }
        return Shape.of(dims);
    }

    /** A {@link Tensor} over the mapped bytes (no copy); the stored dtype must be F32, F16 or BF16. */
    public Tensor view() {
        DType t = dtype.tensorDType().orElseThrow(() -> new SafeTensorsException(file, "tensor '" + name
                + "' has dtype " + dtype + ", not a floating-point dtype a Tensor holds (F32, F16, BF16)"));
        return Tensor.wrap(data, t, tensorShape());
    }

    /** A new F32 heap tensor with the converted elements. */
    public Tensor toF32() {
        return Tensor.of(toFloatArray(), tensorShape().dims());
    }

    /**
     * The tensor for a model: {@code keepStoredDType} keeps F16/BF16 weights as 2-byte views of the mapping
     * (F32 too stays a view); other dtypes, or {@code keepStoredDType == false}, give an F32 heap copy.
     */
    public Tensor toTensor(boolean keepStoredDType) {
        if (keepStoredDType && dtype.tensorDType().isPresent()) {
            return view();
        }
        return toF32();
    }

    @Override
    public String toString() {
        return name + " " + dtype + " " + Arrays.toString(shape);
    }
}
