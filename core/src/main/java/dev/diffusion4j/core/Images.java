package dev.diffusion4j.core;

import dev.diffusion4j.tensor.Tensor;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;

/**
 * Conversions between images and tensors with diffusers' {@code VaeImageProcessor} arithmetic: in, {@code uint8 /
 * 255} then {@code 2x − 1} (float32, no colour conversion); out, {@code (x/2 + 0.5)} clamped to [0, 1], {@code × 255}
 * and rounded half to even, as numpy does.
 */
public final class Images {
    private Images() {
    }

    /** An RGB image → {@code [1, 3, H, W]} in [-1, 1]. Alpha is ignored. */
    public static Tensor toTensor(BufferedImage image) {
        int h = image.getHeight();
        int w = image.getWidth();
        float[] out = new float[3 * h * w];
        int[][] rgb = rgbSamples(image);
        for (int c = 0; c < 3; c++) {
            for (int i = 0; i < h * w; i++) {
                float v = rgb[c][i] / 255f;
                out[c * h * w + i] = 2f * v - 1f;
            }
        }
        return Tensor.of(out, 1, 3, h, w);
    }

    /**
     * A mask image → {@code [1, 1, H, W]} of 0/1: grey level (PIL's {@code convert("L")} weights for colour images)
     * {@code / 255 ≥ 0.5} is 1 (repaint).
     */
    public static Tensor maskToTensor(BufferedImage mask) {
        int h = mask.getHeight();
        int w = mask.getWidth();
        int[] grey = greySamples(mask);
        float[] out = new float[h * w];
        for (int i = 0; i < out.length; i++) {
            out[i] = grey[i] / 255f >= 0.5f ? 1f : 0f;
        }
        return Tensor.of(out, 1, 1, h, w);
    }

    /** Image {@code b} of a decoded batch {@code [B, 3, H, W]} (not clamped) → an RGB image. */
    public static BufferedImage toImage(Tensor decoded, int b) {
        if (decoded.rank() != 4 || decoded.dim(1) != 3) {
            throw new IllegalArgumentException("Images.toImage: expected [B, 3, H, W], got " + decoded.shape());
        }
        int h = decoded.dim(2);
        int w = decoded.dim(3);
        int[] bytes = toUint8(decoded, b);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int plane = h * w;
        for (int i = 0; i < plane; i++) {
            img.setRGB(i % w, i / w, (bytes[i] << 16) | (bytes[plane + i] << 8) | bytes[2 * plane + i]);
        }
        return img;
    }

    /** Image {@code b} of a decoded batch as CHW bytes 0..255 (diffusers' postprocessing arithmetic). */
    public static int[] toUint8(Tensor decoded, int b) {
        int n = decoded.dim(1) * decoded.dim(2) * decoded.dim(3);
        int[] out = new int[n];
        long base = (long) b * n;
        for (int i = 0; i < n; i++) {
            float x = decoded.getFlat(base + i) / 2f + 0.5f;
            x = Math.min(1f, Math.max(0f, x));
            out[i] = (int) Math.rint(x * 255f);
        }
        return out;
    }

    /** The R, G and B samples of every pixel (row-major), read from the raster without colour management. */
    static int[][] rgbSamples(BufferedImage image) {
        int h = image.getHeight();
        int w = image.getWidth();
        int[][] out = new int[3][h * w];
        Raster r = image.getRaster();
        boolean direct = !(image.getColorModel() instanceof IndexColorModel) && r.getNumBands() >= 3
                && r.getSampleModel().getSampleSize(0) == 8;
        boolean grey = !(image.getColorModel() instanceof IndexColorModel) && r.getNumBands() <= 2
                && r.getSampleModel().getSampleSize(0) == 8;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = y * w + x;
                if (direct) {
                    out[0][i] = r.getSample(x, y, 0);
                    out[1][i] = r.getSample(x, y, 1);
                    out[2][i] = r.getSample(x, y, 2);
                } else if (grey) {
                    int g = r.getSample(x, y, 0);
                    out[0][i] = g;
                    out[1][i] = g;
                    out[2][i] = g;
                } else {
                    int rgb = image.getRGB(x, y);
                    out[0][i] = (rgb >> 16) & 0xFF;
                    out[1][i] = (rgb >> 8) & 0xFF;
                    out[2][i] = rgb & 0xFF;
                }
            }
        }
        return out;
    }

    /** Grey levels: the sample of a grey image, else PIL's {@code L = (19595 R + 38470 G + 7471 B + 2^15) >> 16}. */
    static int[] greySamples(BufferedImage image) {
        Raster r = image.getRaster();
        int h = image.getHeight();
        int w = image.getWidth();
        int[] out = new int[h * w];
        if (!(image.getColorModel() instanceof IndexColorModel) && r.getNumBands() <= 2 && r.getSampleModel().getSampleSize(0) == 8) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    out[y * w + x] = r.getSample(x, y, 0);
                }
            }
            return out;
        }
        int[][] rgb = rgbSamples(image);
        for (int i = 0; i < out.length; i++) {
            out[i] = (19595 * rgb[0][i] + 38470 * rgb[1][i] + 7471 * rgb[2][i] + 0x8000) >> 16;
        }
        return out;
    }
}
