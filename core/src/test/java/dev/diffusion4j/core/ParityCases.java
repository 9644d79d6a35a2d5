package dev.diffusion4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.SafeTensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * What the core parity tests share: the fixture folders ({@code d4j.fixtures}), a cache of the models each layout
 * loads, and the tensor and image comparisons. Tolerances stay with the callers.
 */
final class ParityCases {
    private ParityCases() {
    }

    /**
     * {@code d4j.fixtures} resolved against {@code sub} (for example {@code "variants", "sd2_v"}); the calling test
     * is skipped when that folder is absent.
     */
    static Path fixtureDir(String... sub) {
        String p = System.getProperty("d4j.fixtures");
        Path dir = p == null ? null : Path.of(p, sub);
        assumeTrue(dir != null && Files.isDirectory(dir), "fixtures absent: " + p);
        return dir;
    }

    /**
     * The models of one variant folder, loaded once per layout: "single_file" loads {@code singleFile} with the
     * folder's {@code pipeline} configs, anything else the {@code pipeline} diffusers folder.
     */
    static final class Models implements AutoCloseable {
        private final Supplier<Path> variant;
        private final String singleFile;
        private final Map<String, StableDiffusion> models = new HashMap<>();

        Models(Supplier<Path> variant, String singleFile) {
            this.variant = variant;
            this.singleFile = singleFile;
        }

        StableDiffusion get(String layout) throws IOException {
            StableDiffusion m = models.get(layout);
            if (m == null) {
                Path d = variant.get();
                m = layout.equals("single_file")
                        ? StableDiffusion.load(d.resolve(singleFile),
                                StableDiffusion.LoadOptions.defaults().withConfig(d.resolve("pipeline")))
                        : StableDiffusion.load(d.resolve("pipeline"));
                models.put(layout, m);
            }
            return m;
        }

        @Override
        public void close() {
            models.values().forEach(StableDiffusion::close);
        }
    }

    /** Token ids stored as I64 {@code [rows, tokens]} (or one row {@code [tokens]}). */
    static int[][] ids(SafeTensors st, String name) {
        long[] v = st.longs(name);
        long[] shape = st.entries().get(name).shape();
        int rows = shape.length == 2 ? (int) shape[0] : 1;
        int cols = v.length / rows;
        int[][] out = new int[rows][cols];
        for (int i = 0; i < v.length; i++) {
            out[i / cols][i % cols] = (int) v[i];
        }
        return out;
    }

    /** The reference's {@code image_uint8} (NHWC) against our image: the max difference of one channel. */
    static int imageDiff(SafeTensors out, GenerationResult result) {
        long[] shape = out.entries().get("image_uint8").shape();
        long[] ref = out.view("image_uint8").toLongArray();
        int h = (int) shape[1];
        int w = (int) shape[2];
        var img = result.image();
        assertEquals(w, img.getWidth());
        assertEquals(h, img.getHeight());
        int max = 0;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = img.getRGB(x, y);
                for (int ch = 0; ch < 3; ch++) {
                    int g = (rgb >> (16 - 8 * ch)) & 0xFF;
                    max = Math.max(max, (int) Math.abs(g - ref[(y * w + x) * 3 + ch]));
                }
            }
        }
        return max;
    }

    /** The max |diff| over all elements (the sizes must match). */
    static double maxDiff(Tensor expected, Tensor actual) {
        float[] e = expected.toFloatArray();
        float[] a = actual.toFloatArray();
        assertEquals(e.length, a.length, "size");
        double max = 0;
        for (int i = 0; i < e.length; i++) {
            max = Math.max(max, Math.abs((double) e[i] - a[i]));
        }
        return max;
    }

    /** {@code |a − e| <= atol + rtol·|e|} everywhere; returns the max |diff|. */
    static double check(String what, Tensor expected, Tensor actual, double atol, double rtol) {
        float[] e = expected.toFloatArray();
        float[] a = actual.toFloatArray();
        assertEquals(e.length, a.length, what + ": size");
        double max = 0;
        for (int i = 0; i < e.length; i++) {
            double d = Math.abs((double) e[i] - a[i]);
            max = Math.max(max, d);
            assertTrue(d <= atol + rtol * Math.abs(e[i]), what + ": element " + i + " is " + a[i] + ", expected "
                    + e[i] + " (|diff| " + d + ")");
        }
        return max;
    }
}
