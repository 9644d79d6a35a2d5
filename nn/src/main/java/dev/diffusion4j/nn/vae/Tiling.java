package dev.diffusion4j.nn.vae;

import dev.diffusion4j.tensor.Tensor;
import java.util.function.UnaryOperator;

/**
 * diffusers' VAE tiling ({@code enable_tiling}): the input is cut into overlapping square tiles, each tile goes
 * through the model alone (bounded memory), and neighbouring outputs are blended linearly over the overlap before
 * the tiles are cropped and joined. With input tile size {@code tileIn}, output tile size {@code tileOut =
 * tileIn · scale} and overlap factor 0.25, as diffusers: tiles start every {@code floor(tileIn · 0.75)} input pixels,
 * blends span {@code floor(tileOut · 0.25)} output pixels and each tile keeps {@code tileOut − blend} output pixels.
 *
 * <p>The result differs from the untiled one near the seams (each tile sees only its own context through the
 * convolutions and the mid-block attention); the difference is measured in the tests.
 */
final class Tiling {
    static final double OVERLAP = 0.25;

    private Tiling() {
    }

    /**
     * Applies {@code model} tile by tile.
     *
     * @param x input {@code [B, C, H, W]}
     * @param tileIn input tile size
     * @param tileOut output tile size (= tileIn × the model's scale)
     * @param model input tile → output tile ({@code [B, C', h·s, w·s]} for an {@code h × w} tile)
     */
    static Tensor apply(Tensor x, int tileIn, int tileOut, UnaryOperator<Tensor> model) {
        int b = x.dim(0);
        int c = x.dim(1);
        int h = x.dim(2);
        int w = x.dim(3);
        int stride = (int) (tileIn * (1 - OVERLAP));
        int blend = (int) (tileOut * OVERLAP);
        int keep = tileOut - blend;
        if (stride <= 0 || keep <= 0) {
            throw new IllegalArgumentException("VAE tiling: tile size " + tileIn + " is too small");
        }
        int rows = (h + stride - 1) / stride;
        int cols = (w + stride - 1) / stride;
        Tensor[][] tiles = new Tensor[rows][cols];
        for (int r = 0; r < rows; r++) {
            for (int q = 0; q < cols; q++) {
                int y0 = r * stride;
                int x0 = q * stride;
                tiles[r][q] = model.apply(crop(x, y0, Math.min(h, y0 + tileIn), x0, Math.min(w, x0 + tileIn)));
            }
        }
        int oc = tiles[0][0].dim(1);
        // Output size: every kept part of every tile (the last row/column keeps what it has).
        int outH = 0;
        for (int r = 0; r < rows; r++) {
            outH += Math.min(keep, tiles[r][0].dim(2));
        }
        int outW = 0;
        for (int q = 0; q < cols; q++) {
            outW += Math.min(keep, tiles[0][q].dim(3));
        }
        float[] out = new float[b * oc * outH * outW];
        int oy = 0;
        for (int r = 0; r < rows; r++) {
            int ox = 0;
            int keptH = 0;
            for (int q = 0; q < cols; q++) {
                float[] t = tiles[r][q].toFloatArray();
                int th = tiles[r][q].dim(2);
                int tw = tiles[r][q].dim(3);
                if (r > 0) {
                    blendVertical(tiles[r - 1][q], t, th, tw, blend);
                }
                if (q > 0) {
                    blendHorizontal(tiles[r][q - 1], t, th, tw, blend);
                }
                tiles[r][q] = Tensor.of(t, b, oc, th, tw);
                int kh = Math.min(keep, th);
                int kw = Math.min(keep, tw);
                for (int n = 0; n < b * oc; n++) {
                    for (int y = 0; y < kh; y++) {
                        System.arraycopy(t, (n * th + y) * tw, out, (n * outH + oy + y) * outW + ox, kw);
                    }
                }
                ox += kw;
                keptH = kh;
            }
            oy += keptH;
        }
        return Tensor.of(out, b, oc, outH, outW);
    }

    /** b[y] = a[-e + y] · (1 − y/e) + b[y] · (y/e) for the first e rows, e = min(a.h, b.h, blend). */
    private static void blendVertical(Tensor above, float[] t, int th, int tw, int blend) {
        float[] a = above.toFloatArray();
        int ah = above.dim(2);
        int aw = above.dim(3);
        int e = Math.min(Math.min(ah, th), blend);
        int planes = t.length / (th * tw);
        for (int n = 0; n < planes; n++) {
            for (int y = 0; y < e; y++) {
                float wb = (float) y / e;
                float wa = 1 - wb;
                for (int x = 0; x < Math.min(tw, aw); x++) {
                    int ti = (n * th + y) * tw + x;
                    t[ti] = a[(n * ah + ah - e + y) * aw + x] * wa + t[ti] * wb;
                }
            }
        }
    }

    /** The same along the width with the tile on the left. */
    private static void blendHorizontal(Tensor left, float[] t, int th, int tw, int blend) {
        float[] a = left.toFloatArray();
        int ah = left.dim(2);
        int aw = left.dim(3);
        int e = Math.min(Math.min(aw, tw), blend);
        int planes = t.length / (th * tw);
        for (int n = 0; n < planes; n++) {
            for (int y = 0; y < Math.min(th, ah); y++) {
                for (int x = 0; x < e; x++) {
                    float wb = (float) x / e;
                    int ti = (n * th + y) * tw + x;
                    t[ti] = a[(n * ah + y) * aw + aw - e + x] * (1 - wb) + t[ti] * wb;
                }
            }
        }
    }

    static Tensor crop(Tensor x, int y0, int y1, int x0, int x1) {
        int b = x.dim(0);
        int c = x.dim(1);
        int h = x.dim(2);
        int w = x.dim(3);
        int ch = y1 - y0;
        int cw = x1 - x0;
        float[] src = x.isHeap() ? null : x.toFloatArray();
        float[] out = new float[b * c * ch * cw];
        for (int n = 0; n < b * c; n++) {
            for (int y = 0; y < ch; y++) {
                int from = (n * h + y0 + y) * w + x0;
                if (src == null) {
                    System.arraycopy(x.array(), x.offset() + from, out, (n * ch + y) * cw, cw);
                } else {
                    System.arraycopy(src, from, out, (n * ch + y) * cw, cw);
                }
            }
        }
        return Tensor.of(out, b, c, ch, cw);
    }
}
