package dev.diffusion4j.core;

import java.awt.image.BufferedImage;
import java.util.ArrayDeque;

/**
 * The Canny edge detector as ControlNet's canny annotator uses it ({@code cv2.Canny(rgb, low, high)}), so a user can
 * pass a photo to a canny ControlNet: white one-pixel edges on black, RGB.
 *
 * <p>Like OpenCV: 3×3 Sobel gradients per colour channel (replicated border), at each pixel the channel with the
 * largest L1 magnitude {@code |dx| + |dy|}; non-maximum suppression along the gradient direction quantised to 0°, 45°,
 * 90° or 135°; then hysteresis: pixels above {@code high} are edges, pixels above {@code low} are edges when
 * 8-connected to one. The magnitudes are of the raw Sobel sums (0..2040 per axis for 8-bit input), the scale of
 * OpenCV's thresholds: the usual 100 / 200 ({@link #DEFAULT_LOW}, {@link #DEFAULT_HIGH}, the annotator's and A1111's
 * defaults) keep clear outlines; lower values keep more texture.
 */
public final class Canny {
    /** Default low threshold (lllyasviel's annotator and A1111). */
    public static final int DEFAULT_LOW = 100;
    /** Default high threshold (lllyasviel's annotator and A1111). */
    public static final int DEFAULT_HIGH = 200;

    private static final double TAN_22_5 = Math.tan(Math.toRadians(22.5));
    private static final double TAN_67_5 = Math.tan(Math.toRadians(67.5));

    private Canny() {
    }

    /** {@link #detect(BufferedImage, int, int)} with the default thresholds 100 and 200. */
    public static BufferedImage detect(BufferedImage image) {
        return detect(image, DEFAULT_LOW, DEFAULT_HIGH);
    }

    /**
     * The edge map of {@code image}.
     *
     * @param low hysteresis low threshold, ≥ 0
     * @param high hysteresis high threshold, ≥ {@code low}
     * @return an RGB image of the same size: 255 on edges, 0 elsewhere
     */
    public static BufferedImage detect(BufferedImage image, int low, int high) {
        if (low < 0 || high < low) {
            throw new IllegalArgumentException("Canny: thresholds must satisfy 0 <= low <= high, got low " + low
                    + ", high " + high);
        }
        int w = image.getWidth();
        int h = image.getHeight();
        int[][] rgb = Images.rgbSamples(image);
        int[] dx = new int[w * h];
        int[] dy = new int[w * h];
        int[] mag = new int[w * h];
        for (int y = 0; y < h; y++) {
            int ym = Math.max(y - 1, 0);
            int yp = Math.min(y + 1, h - 1);
            for (int x = 0; x < w; x++) {
                int xm = Math.max(x - 1, 0);
                int xp = Math.min(x + 1, w - 1);
                int i = y * w + x;
                for (int[] c : rgb) {
                    int gx = (c[ym * w + xp] + 2 * c[y * w + xp] + c[yp * w + xp])
                            - (c[ym * w + xm] + 2 * c[y * w + xm] + c[yp * w + xm]);
                    int gy = (c[yp * w + xm] + 2 * c[yp * w + x] + c[yp * w + xp])
                            - (c[ym * w + xm] + 2 * c[ym * w + x] + c[ym * w + xp]);
                    int m = Math.abs(gx) + Math.abs(gy);
                    if (m > mag[i]) {
                        mag[i] = m;
                        dx[i] = gx;
                        dy[i] = gy;
                    }
                }
            }
        }
        // 0 = not an edge, 1 = weak candidate, 2 = edge.
        byte[] state = new byte[w * h];
        ArrayDeque<Integer> stack = new ArrayDeque<>();
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = y * w + x;
                int m = mag[i];
                if (m <= low) {
                    continue;
                }
                int ax = Math.abs(dx[i]);
                int ay = Math.abs(dy[i]);
                int a;
                int b;
                boolean diagonal = false;
                if (ay < ax * TAN_22_5) {
                    a = at(mag, w, h, x - 1, y);
                    b = at(mag, w, h, x + 1, y);
                } else if (ay > ax * TAN_67_5) {
                    a = at(mag, w, h, x, y - 1);
                    b = at(mag, w, h, x, y + 1);
                } else if ((dx[i] ^ dy[i]) < 0) {
                    a = at(mag, w, h, x + 1, y - 1);
                    b = at(mag, w, h, x - 1, y + 1);
                    diagonal = true;
                } else {
                    a = at(mag, w, h, x - 1, y - 1);
                    b = at(mag, w, h, x + 1, y + 1);
                    diagonal = true;
                }
                // OpenCV's tie rules: along an axis strictly greater than the left/upper neighbour and not less than
                // the other; along a diagonal strictly greater than both.
                if (m > a && (diagonal ? m > b : m >= b)) {
                    if (m > high) {
                        state[i] = 2;
                        stack.push(i);
                    } else {
                        state[i] = 1;
                    }
                }
            }
        }
        while (!stack.isEmpty()) {
            int i = stack.pop();
            int x = i % w;
            int y = i / w;
            for (int ny = Math.max(y - 1, 0); ny <= Math.min(y + 1, h - 1); ny++) {
                for (int nx = Math.max(x - 1, 0); nx <= Math.min(x + 1, w - 1); nx++) {
                    int j = ny * w + nx;
                    if (state[j] == 1) {
                        state[j] = 2;
                        stack.push(j);
                    }
                }
            }
        }
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int i = 0; i < w * h; i++) {
            out.setRGB(i % w, i / w, state[i] == 2 ? 0xFFFFFF : 0);
        }
        return out;
    }

    private static int at(int[] mag, int w, int h, int x, int y) {
        return x < 0 || y < 0 || x >= w || y >= h ? 0 : mag[y * w + x];
    }
}
