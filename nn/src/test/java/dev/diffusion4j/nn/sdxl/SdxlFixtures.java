package dev.diffusion4j.nn.sdxl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.nn.Fixtures;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.SafeTensors;
import java.nio.file.Path;

/** The {@code variants/sdxl} fixtures and the README's absolute tolerance check. */
final class SdxlFixtures {
    private SdxlFixtures() {
    }

    static Path dir() {
        return Fixtures.dir().resolve("variants/sdxl");
    }

    static int[][] ids(SafeTensors in, String name) {
        long[] flat = in.longs(name);
        int rows = flat.length / 77;
        int[][] ids = new int[rows][77];
        for (int i = 0; i < flat.length; i++) {
            ids[i / 77][i % 77] = Math.toIntExact(flat[i]);
        }
        return ids;
    }

    /** Asserts {@code |a - e| <= atol + rtol * |e|} elementwise (torch.allclose); returns max |diff|. */
    static double assertAllClose(String name, Tensor expected, Tensor actual, double atol, double rtol) {
        assertEquals(expected.shape(), actual.shape(), name + ": shape");
        float[] e = expected.toFloatArray();
        float[] a = actual.toFloatArray();
        double maxDiff = 0;
        int bad = -1;
        for (int i = 0; i < e.length; i++) {
            double d = Math.abs((double) e[i] - a[i]);
            maxDiff = Math.max(maxDiff, Double.isNaN(d) ? Double.POSITIVE_INFINITY : d);
            if (bad < 0 && !(d <= atol + rtol * Math.abs(e[i]))) {
                bad = i;
            }
        }
        System.out.printf("parity %-40s max|diff| %.3e (atol %.1e, rtol %.1e)%n", name, maxDiff, atol, rtol);
        final int b = bad;
        assertTrue(bad < 0, () -> name + ": |diff| above atol " + atol + " + rtol " + rtol + " at flat index " + b
                + " (expected " + e[b] + ", got " + a[b] + ")");
        return maxDiff;
    }
}
