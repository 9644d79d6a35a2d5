package dev.diffusion4j.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.diffusion4j.tensor.cpu.CpuBackend;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link StreamedWeightsBackend}: same results as its inner backend, with the weights' pages out of resident memory. */
class StreamedWeightsBackendTest {
    @TempDir
    Path dir;

    /** Writes {@code values} as little-endian F16 to a file and maps it read-only in {@code arena}. */
    private MemorySegment mappedF16(float[] values, Arena arena) throws IOException {
        Path f = dir.resolve("w" + values.length + ".bin");
        MemorySegment heap = MemorySegment.ofArray(new short[values.length]);
        for (int i = 0; i < values.length; i++) {
            heap.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i,
                    Float.floatToFloat16(values[i]));
        }
        Files.write(f, heap.toArray(ValueLayout.JAVA_BYTE));
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        }
    }

    private static float[] random(long seed, int n) {
        Random r = new Random(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    @Test
    void opsGiveTheInnerBackendsResultsAndDropTheWeightPages() throws IOException {
        assumeTrue(ResidentMemory.fileBackedBytes() >= 0, "needs /proc/self/status (Linux)");
        Backend cpu = CpuBackend.create();
        StreamedWeightsBackend streamed = new StreamedWeightsBackend(cpu);
        int out = 4096;
        int in = 4096; // 32 MiB of F16
        try (Arena arena = Arena.ofShared()) {
            Tensor w = Tensor.wrap(mappedF16(random(1, out * in), arena), DType.F16, Shape.of(out, in));
            Tensor x = Tensor.of(random(2, 3 * in), 3, in);
            float[] expected = cpu.linear(x, w, null).toFloatArray();
            long resident = ResidentMemory.fileBackedBytes();
            float[] actual = streamed.linear(x, w, null).toFloatArray();
            long after = ResidentMemory.fileBackedBytes();
            assertArrayEquals(expected, actual, "the same product");
            assertTrue(resident - after > 24L << 20, "resident file pages before " + (resident >> 20)
                    + " MiB, after the streamed op " + (after >> 20) + " MiB");
            assertEquals(2L * out * in, streamed.releasedBytes());
            // The pages come back on the next read, unchanged.
            assertArrayEquals(expected, streamed.linear(x, w, null).toFloatArray());

            Tensor k = Tensor.wrap(mappedF16(random(3, 8 * 4 * 9), arena), DType.F16, Shape.of(8, 4, 3, 3));
            Tensor img = Tensor.of(random(4, 2 * 4 * 7 * 5), 2, 4, 7, 5);
            assertArrayEquals(cpu.conv2d(img, k, null, 1, 1).toFloatArray(),
                    streamed.conv2d(img, k, null, 1, 1).toFloatArray());
        }
    }

    @Test
    void heapAndArenaTensorsAreLeftAlone() {
        StreamedWeightsBackend streamed = new StreamedWeightsBackend(CpuBackend.create());
        try (Arena arena = Arena.ofShared()) {
            MemorySegment seg = arena.allocate(4L * 16 * 8);
            Tensor w = Tensor.wrap(seg, DType.F32, Shape.of(16, 8));
            Tensor x = Tensor.of(random(5, 2 * 8), 2, 8);
            streamed.linear(x, w, null);
            streamed.linear(x, Tensor.of(random(6, 16 * 8), 16, 8), null);
            assertEquals(0, streamed.releasedBytes());
        }
        assertThrows(IllegalArgumentException.class, () -> new StreamedWeightsBackend(null));
    }
}
