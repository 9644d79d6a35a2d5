package dev.diffusion4j.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

class TensorTest {
    @Test
    void shapeRejectsNegativeAndOverflowingDimensions() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Shape.of(2, -1));
        assertTrue(e.getMessage().contains("[2, -1]"), e.getMessage());
        assertThrows(ArithmeticException.class, () -> Shape.of(Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE));
        assertEquals(24, Shape.of(2, 3, 4).numel());
        assertEquals(4, Shape.of(2, 3, 4).dim(-1));
        assertThrows(IllegalArgumentException.class, () -> Shape.of(2, 3).dim(2));
    }

    @Test
    void heapTensorIndexingReshapeAndSliceShareElements() {
        Tensor t = Tensor.zeros(2, 3, 4);
        t.set(7f, 1, 2, 3);
        assertEquals(7f, t.getFlat(23));
        Tensor r = t.reshape(6, 4);
        assertEquals(7f, r.get(5, 3));
        Tensor s = t.slice(1);
        assertEquals(Shape.of(3, 4), s.shape());
        assertEquals(7f, s.get(2, 3));
        s.set(5f, 0, 0);
        assertEquals(5f, t.get(1, 0, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> t.get(2, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> t.get(0, 0));
        assertThrows(IllegalArgumentException.class, () -> t.reshape(5, 5));
    }

    @Test
    void wrapChecksLengthsAndHeapSize() {
        assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[5], 2, 3));
        assertThrows(IndexOutOfBoundsException.class, () -> Tensor.of(new float[5], 3, Shape.of(3)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(65536, 65536));
        assertTrue(e.getMessage().contains("[65536, 65536]"), e.getMessage());
    }

    @Test
    void segmentTensorsConvertHalfFormatsOnRead() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(8);
            ValueLayout.OfShort le = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            seg.set(le, 0, HalfFloats.floatToF16(1.5f));
            seg.set(le, 2, HalfFloats.floatToF16(-2f));
            seg.set(le, 4, HalfFloats.floatToBf16(3.25f));
            seg.set(le, 6, HalfFloats.floatToBf16(-0.5f));
            Tensor h = Tensor.wrap(seg.asSlice(0, 4), DType.F16, Shape.of(2));
            Tensor b = Tensor.wrap(seg.asSlice(4, 4), DType.BF16, Shape.of(2));
            assertEquals(1.5f, h.get(0));
            assertEquals(-2f, h.get(1));
            assertEquals(3.25f, b.get(0));
            assertEquals(-0.5f, b.get(1));
            assertEquals(-0.5f, b.toHeapF32().array()[1]);
            assertThrows(IllegalArgumentException.class, () -> Tensor.wrap(seg, DType.F16, Shape.of(3)));
            assertThrows(IllegalStateException.class, h::array);
        }
    }
}
