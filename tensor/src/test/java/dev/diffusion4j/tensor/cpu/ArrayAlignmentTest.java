package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** {@link ArrayAlignment}: the offset follows the JVM's object alignment. */
class ArrayAlignmentTest {
    @Test
    void offsetPutsFloatArraysOnCacheLinesUnderTheBuildsFlag() {
        boolean aligned = ManagementFactory.getRuntimeMXBean().getInputArguments()
                .contains("-XX:ObjectAlignmentInBytes=64");
        boolean compact = ManagementFactory.getRuntimeMXBean().getInputArguments()
                .contains("-XX:+UseCompactObjectHeaders");
        Assumptions.assumeTrue(aligned && !compact,
                "run with -XX:ObjectAlignmentInBytes=64 and the default object headers (the build does)");
        // float[] elements start 16 bytes past the object: 12 floats on is the next 64-byte boundary.
        assertEquals(12, ArrayAlignment.FLOAT_OFFSET);
    }
}
