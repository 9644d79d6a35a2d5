package dev.diffusion4j.core;

import java.awt.image.BufferedImage;

/** A separable Gaussian blur of a mask's grey levels (PIL's {@code GaussianBlur(radius)}: sigma = radius), edges clamped. */
final class MaskBlur {
    private MaskBlur() {
    }

    static BufferedImage blur(BufferedImage mask, int radius) {
        int w = mask.getWidth();
        int h = mask.getHeight();
        int[] grey = Images.greySamples(mask);
        double sigma = radius;
        int k = (int) Math.ceil(3 * sigma);
        double[] kernel = new double[2 * k + 1];
        double sum = 0;
        for (int i = -k; i <= k; i++) {
            kernel[i + k] = Math.exp(-(i * i) / (2 * sigma * sigma));
            sum += kernel[i + k];
        }
        for (int i = 0; i < kernel.length; i++) {
            kernel[i] /= sum;
        }
        double[] tmp = new double[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                double acc = 0;
                for (int i = -k; i <= k; i++) {
                    acc += kernel[i + k] * grey[y * w + Math.min(w - 1, Math.max(0, x + i))];
                }
                tmp[y * w + x] = acc;
            }
        }
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                double acc = 0;
                for (int i = -k; i <= k; i++) {
                    acc += kernel[i + k] * tmp[Math.min(h - 1, Math.max(0, y + i)) * w + x];
                }
                out.getRaster().setSample(x, y, 0, (int) Math.round(Math.min(255, Math.max(0, acc))));
            }
        }
        return out;
    }
}
