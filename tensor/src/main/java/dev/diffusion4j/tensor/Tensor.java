package dev.diffusion4j.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;

/**
 * A dense, contiguous (row-major) tensor.
 *
 * <p>Two storages exist. Activations live in a heap {@code float[]} (F32), which the kernels read
 * fastest. Weights may live in a {@link MemorySegment} (typically a memory-mapped file) as F32, F16 or
 * BF16, little-endian, or block-quantised as {@link DType#Q8_0} (see {@link Quantized}); kernels convert them to
 * float32 while packing, so no F32 copy of a model is made.
 *
 * <p>A tensor object is immutable in its shape and storage; the elements of a heap tensor are mutable
 * (kernels write their outputs into them). Views ({@link #reshape}, {@link #slice}) share the elements.
 */
public final class Tensor {
    private static final ValueLayout.OfFloat F32_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * Where {@link #zeros} and {@link #empty} start a tensor's elements in its array ({@link #offset()}): on a cache
     * line when the JVM aligns objects to 64 bytes (see {@link ArrayAlignment}), so that the kernels' vector loads and
     * stores of rows of whole vectors do not each split two lines (a GEMM writing its output there: 4-7 % faster).
     */
    private static final int HEAP_OFFSET = ArrayAlignment.FLOAT_OFFSET;

    private final Shape shape;
    private final DType dtype;
    private final float[] array;
    private final int offset;
    private final MemorySegment segment;

    private Tensor(Shape shape, DType dtype, float[] array, int offset, MemorySegment segment) {
        this.shape = shape;
        this.dtype = dtype;
        this.array = array;
        this.offset = offset;
        this.segment = segment;
    }

    /** A new zero-filled F32 heap tensor (its elements from {@link #offset()} on, as with every heap tensor). */
    public static Tensor zeros(int... dims) {
        return zeros(Shape.of(dims));
    }

    /**
     * A new zero-filled F32 heap tensor. Inside a {@link TensorScope} a large one may reuse the storage of a
     * tensor the scope's thread no longer needs.
     */
    public static Tensor zeros(Shape shape) {
        return new Tensor(shape, DType.F32, TensorScope.allocate(heapSize(shape) + HEAP_OFFSET), HEAP_OFFSET, null);
    }

    /**
     * A new F32 heap tensor whose elements are unspecified, for an output its maker writes completely before anything
     * reads it (as {@code torch.empty}). Inside a {@link TensorScope} a large one may reuse the storage of a tensor
     * the scope's thread no longer needs without zero-filling it first, which {@link #zeros} must do on the calling
     * thread; outside one it is zero-filled. With the system property {@code d4j.tensor.poisonEmpty=true} (the tests
     * set it) every element starts as NaN, so a kernel that leaves one unwritten shows.
     */
    public static Tensor empty(int... dims) {
        return empty(Shape.of(dims));
    }

    /** See {@link #empty(int...)}. */
    public static Tensor empty(Shape shape) {
        return new Tensor(shape, DType.F32, TensorScope.allocateEmpty(heapSize(shape) + HEAP_OFFSET), HEAP_OFFSET,
                null);
    }

    /** Wraps {@code data} (not copied) as an F32 tensor of the given shape. */
    public static Tensor of(float[] data, int... dims) {
        Shape shape = Shape.of(dims);
        if (data.length != shape.numel()) {
            throw new IllegalArgumentException(
                    "array of length " + data.length + " does not hold shape " + shape + " (" + shape.numel() + " elements)");
        }
        return new Tensor(shape, DType.F32, data, 0, null);
    }

    /** Wraps {@code data} from element {@code offset} (not copied) as an F32 tensor of the given shape. */
    public static Tensor of(float[] data, int offset, Shape shape) {
        Objects.checkFromIndexSize(offset, heapSize(shape), data.length);
        return new Tensor(shape, DType.F32, data, offset, null);
    }

    /**
     * Wraps a little-endian memory segment (e.g. a memory-mapped weight) as a tensor; nothing is copied.
     * The segment must hold exactly {@code dtype.storageBytes(numel)} bytes (a block type: a whole number of blocks).
     */
    public static Tensor wrap(MemorySegment segment, DType dtype, Shape shape) {
        if (shape.numel() % dtype.blockSize() != 0) {
            throw new IllegalArgumentException("wrap: " + dtype + " shape " + shape + " is not a whole number of blocks of "
                    + dtype.blockSize() + " elements");
        }
        long bytes = dtype.storageBytes(shape.numel());
        if (segment.byteSize() != bytes) {
            throw new IllegalArgumentException("segment of " + segment.byteSize() + " bytes does not hold "
                    + dtype + " shape " + shape + " (" + bytes + " bytes)");
        }
        return new Tensor(shape, dtype, null, 0, segment);
    }

    private static int heapSize(Shape shape) {
        if (shape.numel() > Integer.MAX_VALUE - 8 - HEAP_OFFSET) {
            throw new IllegalArgumentException("shape " + shape + " has " + shape.numel()
                    + " elements, more than a heap tensor can hold");
        }
        return (int) shape.numel();
    }

    public Shape shape() {
        return shape;
    }

    /** Dimension {@code i} (negative counts from the end). */
    public int dim(int i) {
        return shape.dim(i);
    }

    public int rank() {
        return shape.rank();
    }

    public long numel() {
        return shape.numel();
    }

    public DType dtype() {
        return dtype;
    }

    /** True when the elements are an F32 heap array ({@link #array()}, {@link #offset()}). */
    public boolean isHeap() {
        return array != null;
    }

    /** The backing array of a heap tensor; the elements start at {@link #offset()}. */
    public float[] array() {
        if (array == null) {
            throw new IllegalStateException("tensor " + shape + " " + dtype + " is not a heap F32 tensor");
        }
        return array;
    }

    /** Index of the first element in {@link #array()}. */
    public int offset() {
        return offset;
    }

    /** The backing segment of a segment tensor. */
    public MemorySegment segment() {
        if (segment == null) {
            throw new IllegalStateException("tensor " + shape + " is a heap tensor, not a segment tensor");
        }
        return segment;
    }

    /** Element {@code i} in row-major order, converted to float32. */
    public float getFlat(long i) {
        Objects.checkIndex(i, shape.numel());
        if (array != null) {
            return array[offset + (int) i];
        }
        return switch (dtype) {
            case F32 -> segment.get(F32_LE, i * 4);
            case F16 -> Float.float16ToFloat(segment.get(I16_LE, i * 2));
            case BF16 -> HalfFloats.bf16ToFloat(segment.get(I16_LE, i * 2));
            case Q8_0 -> Quantized.get(segment, i);
        };
    }

    /** Element at the given indices, converted to float32. */
    public float get(int... idx) {
        return getFlat(flatIndex(idx));
    }

    /** Sets element {@code i} of a heap tensor. */
    public void setFlat(long i, float v) {
        Objects.checkIndex(i, shape.numel());
        array()[offset + (int) i] = v;
    }

    /** Sets the element at the given indices of a heap tensor. */
    public void set(float v, int... idx) {
        setFlat(flatIndex(idx), v);
    }

    private long flatIndex(int[] idx) {
        if (idx.length != shape.rank()) {
            throw new IllegalArgumentException("index " + Arrays.toString(idx) + " has rank " + idx.length
                    + ", tensor has shape " + shape);
        }
        long flat = 0;
        for (int d = 0; d < idx.length; d++) {
            int n = shape.dim(d);
            if (idx[d] < 0 || idx[d] >= n) {
                throw new IndexOutOfBoundsException("index " + Arrays.toString(idx) + " out of bounds for shape " + shape);
            }
            flat = flat * n + idx[d];
        }
        return flat;
    }

    /** A view with another shape of the same element count. */
    public Tensor reshape(int... dims) {
        Shape s = Shape.of(dims);
        if (s.numel() != shape.numel()) {
            throw new IllegalArgumentException("cannot reshape " + shape + " to " + s);
        }
        return new Tensor(s, dtype, array, offset, segment);
    }

    /**
     * A view of index {@code i} along the first dimension (rank drops by one). A block-quantised tensor can be sliced
     * only where its sub-tensors are whole blocks.
     */
    public Tensor slice(int i) {
        if (shape.rank() == 0) {
            throw new IllegalArgumentException("cannot slice a scalar");
        }
        Objects.checkIndex(i, shape.dim(0));
        int[] dims = shape.dims();
        Shape inner = Shape.of(Arrays.copyOfRange(dims, 1, dims.length));
        long n = inner.numel();
        if (array != null) {
            return new Tensor(inner, dtype, array, offset + (int) (i * n), null);
        }
        if (n % dtype.blockSize() != 0) {
            throw new IllegalArgumentException("slice: " + dtype + " tensor " + shape + " has sub-tensors of " + n
                    + " elements, not whole blocks of " + dtype.blockSize());
        }
        long bytes = dtype.storageBytes(n);
        return new Tensor(inner, dtype, null, 0, segment.asSlice(i * bytes, bytes));
    }

    /** All elements as a new float32 array, converting from the stored dtype. */
    public float[] toFloatArray() {
        int n = heapSize(shape);
        float[] out = new float[n];
        if (array != null) {
            System.arraycopy(array, offset, out, 0, n);
        } else if (dtype == DType.Q8_0) {
            Quantized.dequantize(segment, 0, out, 0, n);
        } else {
            for (int i = 0; i < n; i++) {
                out[i] = getFlat(i);
            }
        }
        return out;
    }

    /** A new F32 heap tensor with the same elements (converted from the stored dtype). */
    public Tensor toHeapF32() {
        return new Tensor(shape, DType.F32, toFloatArray(), 0, null);
    }

    /** A new heap copy of this tensor. */
    public Tensor copy() {
        return toHeapF32();
    }

    @Override
    public String toString() {
        return "Tensor" + shape + " " + dtype + (array != null ? " heap" : " segment");
    }
}
