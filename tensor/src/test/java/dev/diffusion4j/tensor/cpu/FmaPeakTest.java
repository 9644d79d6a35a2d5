package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class FmaPeakTest {
    @Test
    void flopCountIsTwoPerLanePerFma() {
        assertEquals(2.0 * FmaPeak.CHAINS * FmaPeak.lanes() * 1000, FmaPeak.flopsPerCall(1000));
    }

    @Test
    void chainsComputeFiniteValues() {
        float v = FmaPeak.chains(10_000);
        assertTrue(Float.isFinite(v) && v > 0, "chains returned " + v);
    }

    @Test
    void measuresAPositivePeakForOneAndTwoThreads() {
        double one = FmaPeak.measure(1, 30);
        double two = FmaPeak.measure(2, 30);
        // Only sanity: the machine is shared with other builds, so no lower bound on the speed itself.
        assertTrue(one > 0 && one < 1e5, "1 thread: " + one);
        assertTrue(two > 0 && two < 1e5, "2 threads: " + two);
    }

    @Test
    void badArgumentsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> FmaPeak.measure(0, 10));
        assertThrows(IllegalArgumentException.class, () -> FmaPeak.measure(1, 0));
    }
}
