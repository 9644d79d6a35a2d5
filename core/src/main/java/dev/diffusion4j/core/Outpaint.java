package dev.diffusion4j.core;

import java.awt.image.BufferedImage;

/**
 * Outpainting as inpainting: the image is placed on a larger canvas whose new pixels repeat the nearest edge pixel
 * (so the VAE sees plausible colours), and the mask is white over the new pixels (plus the caller's mask, if any,
 * over the original area), optionally blurred.
 */
record Outpaint(BufferedImage image, BufferedImage mask) {
    /** {@code innerMask}, when given, has the init image's size (checked by the request). */
    static Outpaint of(BufferedImage init, int[] margins, BufferedImage innerMask, int blur) {
        int left = margins[0];
        int right = margins[1];
        int top = margins[2];
        int bottom = margins[3];
        int w = init.getWidth() + left + right;
        int h = init.getHeight() + top + bottom;
        if (w % 8 != 0 || h % 8 != 0) {
            throw new IllegalArgumentException("outpainting to " + w + "x" + h + ": the new size must be a multiple of 8");
        }
        int[][] rgb = Images.rgbSamples(init);
        int[] inner = innerMask == null ? null : Images.greySamples(innerMask);
        BufferedImage canvas = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        BufferedImage mask = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        int iw = init.getWidth();
        int ih = init.getHeight();
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int sx = Math.min(iw - 1, Math.max(0, x - left));
                int sy = Math.min(ih - 1, Math.max(0, y - top));
                int i = sy * iw + sx;
                canvas.setRGB(x, y, (rgb[0][i] << 16) | (rgb[1][i] << 8) | rgb[2][i]);
                boolean outside = x < left || x >= left + iw || y < top || y >= top + ih;
                int m = outside ? 255 : inner == null ? 0 : inner[i];
                mask.getRaster().setSample(x, y, 0, m);
            }
        }
        return new Outpaint(canvas, blur > 0 ? MaskBlur.blur(mask, blur) : mask);
    }
}
