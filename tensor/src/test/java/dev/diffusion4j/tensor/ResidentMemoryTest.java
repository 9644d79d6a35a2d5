package dev.diffusion4j.tensor;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@link ResidentMemory} reads this process's figures from /proc (Linux). */
class ResidentMemoryTest {
    @Test
    void peakCoversWhatWasJustTouched() {
        assumeTrue(Files.isReadable(Path.of("/proc/self/status")), "needs /proc/self/status (Linux)");
        long before = ResidentMemory.peakBytes();
        byte[] touched = new byte[64 << 20];
        for (int i = 0; i < touched.length; i += 4096) {
            touched[i] = 1;
        }
        long peak = ResidentMemory.peakBytes();
        long file = ResidentMemory.fileBackedBytes();
        assertTrue(before > 0 && peak >= before, "peak " + peak + " after " + before);
        assertTrue(peak >= 64L << 20, "64 MiB touched, peak " + peak);
        assertTrue(file > 0 && file < peak, "file-backed " + file + " of peak " + peak);
        assertTrue(touched[4096] == 1);
    }
}
