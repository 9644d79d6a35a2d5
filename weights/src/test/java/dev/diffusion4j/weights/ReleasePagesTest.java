package dev.diffusion4j.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.diffusion4j.tensor.ResidentMemory;
import dev.diffusion4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link Checkpoint#releasePages} takes a component's mapped pages out of the process's resident memory, losing nothing. */
class ReleasePagesTest {
    @TempDir
    Path dir;

    private static double sum(Tensor t) {
        double s = 0;
        for (long i = 0; i < t.numel(); i++) {
            s += t.getFlat(i);
        }
        return s;
    }

    @Test
    void releasedPagesLeaveResidentMemoryAndComeBackOnRead() throws IOException {
        assumeTrue(ResidentMemory.fileBackedBytes() >= 0, "needs /proc/self/status (Linux)");
        int n = 16 << 20; // 64 MiB of F32 per component
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (i % 1000) * 0.001f;
        }
        Path unet = dir.resolve("unet");
        Files.createDirectories(unet);
        Files.writeString(unet.resolve("config.json"), "{\"_class_name\": \"UNet2DConditionModel\"}");
        new SafeTensorsWriter().addF32("conv_in.weight", a, n / 64, 64).write(unet.resolve("diffusion_pytorch_model.safetensors"));
        try (Checkpoint ck = Checkpoint.open(unet)) {
            String component = ck.components().iterator().next();
            Tensor w = ck.tensor(component, "conv_in.weight");
            double before = sum(w);
            long resident = ResidentMemory.fileBackedBytes();
            ck.releasePages(component);
            long released = ResidentMemory.fileBackedBytes();
            assertTrue(resident - released > 48L << 20,
                    "resident file pages before " + (resident >> 20) + " MiB, after release " + (released >> 20) + " MiB");
            assertEquals(before, sum(w), "the weights read back unchanged");
            assertTrue(ResidentMemory.fileBackedBytes() - released > 48L << 20, "reading faults the pages back in");
        }
    }
}
