package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** {@link ArrayAlignment}: the offset follows the JVM's object alignment. */
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
}
