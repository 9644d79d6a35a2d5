package dev.diffusion4j.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.SafeTensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Locates the golden fixtures ({@code d4j.fixtures}) and compares tensors with the fixtures' tolerances. */
public final class Fixtures {
    private Fixtures() {
    }

    /** The fixtures folder; skips the test when it is absent. */
    public static Path dir() {
        String p = System.getProperty("d4j.fixtures");
        Path dir = p == null ? null : Path.of(p);
        assumeTrue(dir != null && Files.isDirectory(dir), "fixtures absent: " + p);
        return dir;
    }

    /**
     * Asserts {@code max |actual - expected| <= rel * max(1, max |expected|)} and returns the max abs difference
     * (printed, so the closing note can quote it).
     */
    public static double assertClose(String name, Tensor expected, Tensor actual, double rel) {
        assertEquals(expected.shape(), actual.shape(), name + ": shape");
        float[] e = expected.toFloatArray();
        float[] a = actual.toFloatArray();
        double maxRef = 0;
        double maxDiff = 0;
        int worst = -1;
        for (int i = 0; i < e.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(e[i]));
            double d = Math.abs((double) e[i] - a[i]);
            if (!(d <= maxDiff)) {
                maxDiff = d;
                worst = i;
            }
        }
        double tol = rel * Math.max(1, maxRef);
        System.out.printf("parity %-40s max|diff| %.3e (tolerance %.1e, max|ref| %.3f)%n", name, maxDiff, tol, maxRef);
        final int w = worst;
        final double md = maxDiff;
        assertTrue(maxDiff <= tol, () -> name + ": max |diff| " + md + " > " + tol + " at flat index " + w
                + " (expected " + e[w] + ", got " + a[w] + ")");
        return maxDiff;
    }

    /**
     * {@link #assertClose} for every tensor of {@code out} that {@code probed} also holds (named {@code prefix +
     * name}); returns how many were compared, for the caller to require enough of them.
     */
    public static int assertProbesClose(String prefix, SafeTensors out, Map<String, Tensor> probed, double rel) {
        int compared = 0;
        for (String name : out.entries().keySet()) {
            if (probed.containsKey(name)) {
                assertClose(prefix + name, out.tensor(name), probed.get(name), rel);
                compared++;
            }
        }
        return compared;
    }
}
