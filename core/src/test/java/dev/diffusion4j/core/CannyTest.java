package dev.diffusion4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.util.Random;
import org.junit.jupiter.api.Test;

class CannyTest {
    @Test
    void aSquareGivesAThinClosedOutline() {
        BufferedImage img = new BufferedImage(40, 30, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.BLACK);
        g.fillRect(0, 0, 40, 30);
        g.setColor(new Color(200, 50, 50));
        g.fillRect(10, 8, 20, 12);
        g.dispose();
        BufferedImage edges = Canny.detect(img);
        assertEquals(40, edges.getWidth());
        assertEquals(30, edges.getHeight());
        // Every edge pixel lies on the square's border band, and every border side has edges.
        int count = 0;
        for (int y = 0; y < 30; y++) {
            for (int x = 0; x < 40; x++) {
                int v = edges.getRGB(x, y) & 0xFFFFFF;
                assertTrue(v == 0 || v == 0xFFFFFF, "binary output");
                if (v != 0) {
                    count++;
                    boolean nearBorder = (x >= 8 && x <= 31 && y >= 6 && y <= 21) && !(x >= 12 && x <= 27 && y >= 10 && y <= 17);
                    assertTrue(nearBorder, "edge at " + x + "," + y + " away from the square's border");
                }
            }
        }
        assertTrue(edges.getRGB(20, 8) != 0xFF000000 || edges.getRGB(20, 7) != 0xFF000000, "top side");
        assertTrue(edges.getRGB(10, 14) != 0xFF000000 || edges.getRGB(9, 14) != 0xFF000000, "left side");
        // One-pixel-thin outline: about the perimeter (64 px), not a 2-3 px band.
        assertTrue(count >= 50 && count <= 80, "edge pixel count " + count);
    }

    @Test
    void flatImagesHaveNoEdgesAndThresholdsAreChecked() {
        BufferedImage img = new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB);
        BufferedImage edges = Canny.detect(img);
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 16; x++) {
                assertEquals(0, edges.getRGB(x, y) & 0xFFFFFF);
            }
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Canny.detect(img, 200, 100));
        assertTrue(e.getMessage().contains("low 200"), e.getMessage());
    }

    @Test
    void higherThresholdsKeepFewerEdges() {
        long seed = new Random().nextLong();
        Random r = new Random(seed);
        BufferedImage img = new BufferedImage(48, 32, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 48; x++) {
                img.setRGB(x, y, r.nextInt(0x1000000));
            }
        }
        int loose = count(Canny.detect(img, 50, 100));
        int strict = count(Canny.detect(img, 400, 800));
        assertTrue(strict <= loose, "seed " + seed + ": " + strict + " > " + loose);
        assertTrue(loose > 0, "seed " + seed + ": a noise image must have edges");
    }

    private static int count(BufferedImage edges) {
        int n = 0;
        for (int y = 0; y < edges.getHeight(); y++) {
            for (int x = 0; x < edges.getWidth(); x++) {
                n += (edges.getRGB(x, y) & 0xFFFFFF) != 0 ? 1 : 0;
            }
        }
        return n;
    }
}
