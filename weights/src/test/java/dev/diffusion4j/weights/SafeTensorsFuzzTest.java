package dev.diffusion4j.weights;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded mutation fuzzing: valid files written by {@link SafeTensorsWriter} are damaged (bytes flipped in the
 * header and length, digits changed, truncation, insertion) and opened; the only acceptable failure is a
 * {@link SafeTensorsException}, and a file that opens must let every tensor be read. Bounded to a few seconds.
 */
class SafeTensorsFuzzTest {
    private static final long BUDGET_NANOS = 3_000_000_000L;

    @TempDir
    Path dir;

    @Test
    void mutatedFilesFailCleanly() throws IOException {
        long seed = Long.getLong("d4j.fuzz.seed", System.nanoTime());
        Random rnd = new Random(seed);
        long deadline = System.nanoTime() + BUDGET_NANOS;
        int cases = 0;
        int rejected = 0;
        Path p = dir.resolve("fuzz.safetensors");
        while (System.nanoTime() < deadline) {
            long caseSeed = rnd.nextLong();
            byte[] valid = validFile(new Random(caseSeed));
            byte[] bad = mutate(valid, new Random(caseSeed ^ 0x5DEECE66DL));
            Files.write(p, bad);
            try (SafeTensors st = SafeTensors.open(p)) {
                for (String name : st.entries().keySet()) {
                    StoredTensor v = st.view(name);
                    if (v.numel() > 0 && v.numel() < 1 << 20) {
                        v.getFloat(v.numel() - 1);
                        v.toFloatArray();
                    }
                }
            } catch (SafeTensorsException e) {
                rejected++;
                assertTrue(e.getMessage().contains(p.toString()), "message names the file: " + e.getMessage());
            } catch (Throwable e) {
                fail("seed " + seed + " case seed " + caseSeed + " (rerun with -Dd4j.fuzz.seed=" + seed + "): "
                        + e, e);
            }
            cases++;
        }
        System.out.println("fuzz: seed " + seed + ", " + cases + " cases, " + rejected + " rejected");
        assertTrue(cases > 50, "too few fuzz cases in the time budget: " + cases + " (seed " + seed + ")");
        assertTrue(rejected > 0, "no mutation was rejected (seed " + seed + ")");
    }

    private byte[] validFile(Random r) throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt");
        int n = 1 + r.nextInt(5);
        SafeTensorsDType[] types = SafeTensorsDType.values();
        for (int i = 0; i < n; i++) {
            SafeTensorsDType t = types[r.nextInt(types.length)];
            long[] shape = new long[r.nextInt(4)];
            long numel = 1;
            for (int d = 0; d < shape.length; d++) {
                shape[d] = r.nextInt(5);
                numel *= shape[d];
            }
            byte[] data = new byte[(int) (numel * t.byteSize())];
            r.nextBytes(data);
            w.add("t" + i + (r.nextBoolean() ? ".weight" : "\u00e9\\\""), t, shape, MemorySegment.ofArray(data));
        }
        Path p = dir.resolve("valid.safetensors");
        w.write(p);
        return Files.readAllBytes(p);
    }

    private static byte[] mutate(byte[] f, Random r) {
        byte[] b = f.clone();
        int headerEnd = (int) Math.min(b.length, 8 + (b[0] & 0xFF) + ((b[1] & 0xFF) << 8));
        int edits = 1 + r.nextInt(4);
        for (int e = 0; e < edits; e++) {
            if (b.length <= 8) {
                break;
            }
            int hi = 8 + r.nextInt(Math.max(1, Math.min(b.length, headerEnd) - 8)); // a byte in the header
            switch (r.nextInt(7)) {
                case 0 -> b[r.nextInt(8)] = (byte) r.nextInt(256); // header length
                case 1 -> b[hi] = (byte) r.nextInt(256);
                case 2 -> {
                    // A digit or structural character swapped for another "plausible" one.
                    String pool = "0123456789-,:[]{}\" ";
                    b[hi] = (byte) pool.charAt(r.nextInt(pool.length()));
                }
                case 3 -> b = java.util.Arrays.copyOf(b, r.nextInt(b.length + 1)); // truncate
                case 4 -> {
                    int i = r.nextInt(b.length + 1);
                    byte[] c = new byte[b.length + 1];
                    System.arraycopy(b, 0, c, 0, i);
                    c[i] = (byte) r.nextInt(256);
                    System.arraycopy(b, i, c, i + 1, b.length - i);
                    b = c;
                }
                case 5 -> {
                    if (b.length > 0) {
                        b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
                    }
                }
                default -> {
                    // Large digit runs: offsets and dimensions near 2^63.
                    for (int k = 0; k < 1 + r.nextInt(20) && hi + k < b.length; k++) {
                        b[hi + k] = (byte) ('0' + r.nextInt(10));
                    }
                }
            }
        }
        return b;
    }
}
