package dev.diffusion4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/**
 * Outpainting builds the canvas and mask it should; cancellation stops a generation between steps; releasing weight
 * pages between stages changes nothing.
 */
class OutpaintAndCancellationTest {
    @Test
    void outpaintCanvasRepeatsEdgesAndMasksOnlyTheNewPixels() {
        BufferedImage img = new BufferedImage(16, 8, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 16; x++) {
                img.setRGB(x, y, (x * 10) << 16 | (y * 20) << 8 | 7);
            }
        }
        Outpaint o = Outpaint.of(img, new int[] {8, 0, 0, 8}, null, 0);
        assertEquals(24, o.image().getWidth());
        assertEquals(16, o.image().getHeight());
        int[] grey = Images.greySamples(o.mask());
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 24; x++) {
                boolean added = x < 8 || y >= 8;
                assertEquals(added ? 255 : 0, grey[y * 24 + x], "mask at " + x + "," + y);
                int sx = Math.max(0, x - 8);
                int sy = Math.min(7, y);
                assertEquals(img.getRGB(sx, sy), o.image().getRGB(x, y), "canvas at " + x + "," + y);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> Outpaint.of(img, new int[] {3, 0, 0, 0}, null, 0));
    }

    @Test
    void outpaintingRunsAsInpaintingAtTheNewSize() throws Exception {
        try (StableDiffusion sd = StableDiffusion.load(ParityCases.fixtureDir("models", "tiny-sd"))) {
            BufferedImage init = ImageIO.read(ParityCases.fixtureDir("inpaint", "legacy_4ch_euler").resolve("init.png").toFile());
            GenerationResult r = sd.generate(GenerationRequest.builder().prompt("a boat").seed(3).steps(2)
                    .sampler("euler").initImage(init).outpaint(0, 32, 0, 16).build());
            assertEquals(init.getWidth() + 32, r.image().getWidth());
            assertEquals(init.getHeight() + 16, r.image().getHeight());
            assertTrue(r.parameters().get(0).contains("Size: " + (init.getWidth() + 32) + "x" + (init.getHeight() + 16)),
                    r.parameters().get(0));
        }
    }

    /** Two images (the second reads released pages back) with {@code options} equal the plain load's, pixel for pixel. */
    private static void assertSamePixels(StableDiffusion.LoadOptions options) throws Exception {
        GenerationRequest req = GenerationRequest.builder().prompt("a boat").seed(5).steps(2).width(64).height(64).build();
        try (StableDiffusion kept = StableDiffusion.load(ParityCases.fixtureDir("models", "tiny-sd"));
             StableDiffusion other = StableDiffusion.load(ParityCases.fixtureDir("models", "tiny-sd"), options)) {
            float[] want = kept.generate(req).decoded().toFloatArray();
            for (int i = 0; i < 2; i++) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(want, other.generate(req).decoded().toFloatArray());
            }
            if (options.streamWeights()) {
                assertTrue(other.backend() instanceof dev.diffusion4j.tensor.StreamedWeightsBackend, other.backend().name());
            }
        }
    }

    @Test
    void releasingWeightPagesBetweenStagesChangesNoPixel() throws Exception {
        assertSamePixels(StableDiffusion.LoadOptions.defaults().withReleaseWeightPages(true));
    }

    @Test
    void streamingWeightPagesChangesNoPixel() throws Exception {
        assertSamePixels(StableDiffusion.LoadOptions.defaults().withStreamWeights(true));
    }

    @Test
    void cancellationStopsBeforeTheNextStep() throws Exception {
        try (StableDiffusion sd = StableDiffusion.load(ParityCases.fixtureDir("models", "tiny-sd"))) {
            Cancellation cancel = new Cancellation();
            List<Integer> steps = new ArrayList<>();
            GenerationRequest req = GenerationRequest.builder().prompt("x").seed(1).steps(6).width(64).height(64).build();
            assertThrows(CancellationException.class, () -> sd.generate(req, e -> {
                steps.add(e.step());
                if (e.step() == 1) {
                    cancel.cancel();
                }
            }, cancel));
            assertEquals(List.of(0, 1), steps);
        }
    }
}
