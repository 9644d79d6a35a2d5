package dev.diffusion4j.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** {@link ArrayAlignment}: the offset follows the JVM's object alignment, and heap tensors start there. */
class ArrayAlignmentTest {
    @Test
    void offsetPutsFloatArraysOnCacheLinesUnderTheBuildsFlag() {
        var args = ManagementFactory.getRuntimeMXBean().getInputArguments();
        Assumptions.assumeTrue(args.contains("-XX:ObjectAlignmentInBytes=64")
                        && !args.contains("-XX:-UseCompressedClassPointers"),
                "run with -XX:ObjectAlignmentInBytes=64 (the build does)");
        // float[] elements start 16 bytes past the object (12 with compact headers, checked against
        // Unsafe.arrayBaseOffset on JDK 25): the next 64-byte boundary is 12 (13) floats on.
        assertEquals(args.contains("-XX:+UseCompactObjectHeaders") ? 13 : 12, ArrayAlignment.FLOAT_OFFSET);
    }

    @Test
    void tensorsMadeByZerosAndEmptyStartTheirElementsAtTheOffset() {
        int a = ArrayAlignment.FLOAT_OFFSET;
        Tensor z = Tensor.zeros(3, 5);
        Tensor e = Tensor.empty(2, 40);
        assertEquals(a, z.offset());
        assertEquals(a, e.offset());
        assertEquals(15 + a, z.array().length, "the elements and nothing after them");
        assertEquals(80 + a, e.array().length);
        z.set(2f, 1, 4);
        assertEquals(2f, z.array()[a + 9], "element (1, 4) at offset + 9");
        assertEquals(2f, z.toFloatArray()[9]);
        assertEquals(a + 5, z.slice(1).offset(), "views keep counting from the offset");
        Tensor wrapped = Tensor.of(new float[15], 3, 5);
        assertEquals(0, wrapped.offset(), "a caller's array is used as it is");
    }
}
