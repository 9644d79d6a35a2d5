package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ArrayAlignment;
import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * 3×3 stride-1 convolution of small maps by Winograd's F(2×2, 3×3): each 2×2 output tile is
 * {@code Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A} of its 4×4 input tile, 16 products per 4 outputs instead of 36. For maps
 * where {@link Winograd}'s F(4,3) does not pay: the U-Net's 8×8 level (1280 and 2560 input channels) has 4 tiles of
 * 4×4 per image, 8 over a guided batch, a quarter of one GEMM panel, while 2×2 tiles are 32, one whole panel; the
 * implicit GEMM there reads and packs every weight for 128 columns only (at about half the FMA peak).
 *
 * <p>The transforms multiply by 0, ±1 and ±1/2 only, so the rounding error stays that of the direct path's order
 * of magnitude (see {@code WinogradF2Test}).
 *
 * <p>Schedule: the whole input is transformed once into V ({@code [16][Cin][tiles]}, laid out as the GEMM's B
 * panels of {@link Gemm#NR} tiles). Tasks are blocks of {@link #BLOCK_PANELS} panels of output channels; each walks
 * the input channels in blocks of at most {@link Gemm#KB}: converts that block's weights, transforms them into U
 * ({@code [16]} planes in the GEMM's packed A layout, in L2), multiplies them into its 16 products M (accumulated
 * over the channel blocks) and finally transforms M to the output, adding bias and residual. The transformed
 * weights are never kept across calls, as in {@link Winograd}.
 */
final class WinogradF2 {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final int MR = Gemm.MR;
    private static final int NR = Gemm.NR;
    /** Positions of the transformed 4×4 tile: the number of GEMMs. */
    private static final int P = 16;
    private static final int OFF = ArrayAlignment.FLOAT_OFFSET;
    /** Panels of output channels per task (48 rows: the task's U block for 256 input channels is 0.8 MB). */
    private static final int BLOCK_PANELS = 4;
    /**
     * Input channels of a panel's kernels converted at a time before their taps are gathered: 12 × 64 × 9 floats
     * (27 KB) stay in L1 for the gathers.
     */
    private static final int CONVERT_CHANNELS = 64;
    private static final int[] CHUNK_MAP = Winograd.tapMap(CONVERT_CHANNELS * 9);
    /** Per-thread scratch: converted weights, their de-interleaved taps, U, M, a tile. */
    private static final ThreadBuffers BUFFERS = new ThreadBuffers(5);

    private WinogradF2() {
    }

    /**
     * Whether {@link Conv2d} should compute this convolution here: {@link ConvAlgorithm#AUTO}, a 3×3 kernel, stride
     * 1, padding 1 on every side, even maps no larger than 8×8, at least 256 input and output channels, and 2×2 tiles
     * filling at least three quarters of whole GEMM panels (the guided batch of 2 at 8×8: 32 tiles).
     */
    static boolean pays(ConvAlgorithm algorithm, int batch, int channels, int height, int width, Tensor weight,
                        Tensor bias, int stride, int padTop, int padBottom, int padLeft, int padRight) {
        if (algorithm != ConvAlgorithm.AUTO || weight.rank() != 4 || stride != 1 || weight.dim(2) != 3
                || weight.dim(3) != 3 || channels != weight.dim(1)
                || (bias != null && (bias.rank() != 1 || bias.dim(0) != weight.dim(0)))) {
            return false;
        }
        if (padTop != 1 || padBottom != 1 || padLeft != 1 || padRight != 1 || height % 2 != 0 || width % 2 != 0
                || height < 2 || width < 2 || height > 8 || width > 8) {
            return false;
        }
        long tiles = (long) batch * (height / 2) * (width / 2);
        long padded = (tiles + NR - 1) / NR * NR;
        return Math.min(channels, weight.dim(0)) >= 256 && tiles >= NR && 4 * tiles >= 3 * padded
                && (long) P * channels * padded < Integer.MAX_VALUE / 2;
    }

    /**
     * {@code conv2d(x, weight, stride 1, padding 1) + bias + residual} by F(2×2, 3×3), the input given by its rows.
     *
     * @param weight   {@code [Cout, Cin, 3, 3]}, F32/F16/BF16/Q8_0, heap or segment
     * @param bias     {@code [Cout]} or null
     * @param residual {@code [N, Cout, H, W]} added to the output, or null
     * @return the F32 output {@code [N, Cout, H, W]}
     */
    static Tensor conv3x3(ComputePool pool, ConvRows x, Tensor weight, Tensor bias, Tensor residual) {
        int n = x.batch();
        int cin = x.channels();
        int h = x.height();
        int w = x.width();
        String shapes = " (x [" + n + ", " + cin + ", " + h + ", " + w + "], weight " + weight.shape() + ", bias "
                + (bias == null ? "none" : bias.shape()) + ", residual "
                + (residual == null ? "none" : residual.shape()) + ")";
        if (weight.rank() != 4 || weight.dim(1) != cin || weight.dim(2) != 3 || weight.dim(3) != 3
                || (bias != null && (bias.rank() != 1 || bias.dim(0) != weight.dim(0)))) {
            throw new IllegalArgumentException("winograd F(2,3): expected weight [Cout, Cin, 3, 3] and bias [Cout]"
                    + shapes);
        }
        if (n < 1 || cin < 1 || h < 2 || w < 2 || h % 2 != 0 || w % 2 != 0) {
            throw new IllegalArgumentException("winograd F(2,3): needs a non-empty input with even height and width"
                    + shapes);
        }
        int cout = weight.dim(0);
        Shape outShape = Shape.of(n, cout, h, w);
        if (residual != null && !residual.shape().equals(outShape)) {
            throw new IllegalArgumentException("winograd F(2,3): residual must be " + outShape + shapes);
        }
        Tensor res = residual == null ? null : Kernels.heap(residual);
        float[] b = bias == null ? null : Gemm.toFloats(bias);
        pool = Gemm.poolFor(pool, weight, bias);
        int tx = w / 2;
        int tilesPerImage = (h / 2) * tx;
        int tiles = n * tilesPerImage;
        int tp = (tiles + NR - 1) / NR * NR;
        // V[p] at OFF + p·vPlane: panel j of tiles at j·cin·NR, input channel c of it at c·NR.
        int vPlane = Gemm.spread(cin * tp);
        float[] v = TensorScope.scratchEmpty(P * vPlane + OFF + L);
        int hp = h + 2;
        int wp = w + 2;
        pool.parallelFor(cin, (from, to) -> {
            float[] pad = new float[hp * wp];
            float[] plane = new float[h * w];
            for (int c = from; c < to; c++) {
                for (int img = 0; img < n; img++) {
                    x.plane(img, c, plane, 0);
                    for (int y = 0; y < h; y++) {
                        System.arraycopy(plane, y * w, pad, (y + 1) * wp + 1, w);
                    }
                    int t0 = img * tilesPerImage;
                    for (int t = 0; t < tilesPerImage; t++) {
                        int tile = t0 + t;
                        transformInput(pad, (t / tx) * 2 * wp + (t % tx) * 2, wp, v,
                                OFF + (tile / NR) * cin * NR + c * NR + tile % NR, vPlane);
                    }
                }
                for (int tile = tiles; tile < tp; tile++) {
                    for (int p = 0; p < P; p++) {
                        v[OFF + p * vPlane + (tile / NR) * cin * NR + c * NR + tile % NR] = 0f;
                    }
                }
            }
        });
        Tensor out = Tensor.empty(outShape);
        float[] ya = out.array();
        int yo = out.offset();
        float[] ra = res == null ? null : res.array();
        int ro = res == null ? 0 : res.offset();
        int mPanels = (cout + MR - 1) / MR;
        // Blocks of at most BLOCK_PANELS panels, as many as a multiple of the threads (1280 channels on 2 threads: 28
        // blocks of 3 or 4 panels, not 26 of 4 and one of 3).
        int threads = pool.threads();
        int blocks0 = ((mPanels + BLOCK_PANELS - 1) / BLOCK_PANELS + threads - 1) / threads * threads;
        int blocks = Math.min(mPanels, blocks0);
        int kBlocks = (cin + Gemm.KB - 1) / Gemm.KB;
        int kbMax = roundUp((cin + kBlocks - 1) / kBlocks + Gemm.GATHER_K, Gemm.GATHER_K);
        pool.parallelFor(blocks, 1, (from, to) -> {
            int cbMax = BLOCK_PANELS * MR;
            int uLen = cbMax * kbMax;
            int uStride = Gemm.spread(uLen);
            int ldm = Gemm.spread(tp);
            // Slack past the chunk: the gathers of a last group of columns read up to 27 floats beyond it.
            float[] g = BUFFERS.get(0, MR * CONVERT_CHANNELS * 9 + 2 * L);
            float[] gt = BUFFERS.get(1, 9 * uStride + OFF + L);
            float[] u = BUFFERS.get(2, P * uStride + OFF + L);
            float[] m = BUFFERS.get(3, P * cbMax * ldm + OFF + L);
            float[] tile = BUFFERS.get(4, MR * NR);
            for (int blk = from; blk < to; blk++) {
                int co0 = (int) ((long) mPanels * blk / blocks) * MR;
                int cb = Math.min(cout, (int) ((long) mPanels * (blk + 1) / blocks) * MR) - co0;
                for (int kb = 0; kb < kBlocks; kb++) {
                    int ci0 = kStart(cin, kBlocks, kb);
                    int kc = kStart(cin, kBlocks, kb + 1) - ci0;
                    int ldk = roundUp(kc, Gemm.GATHER_K);
                    int uPlane = roundUp(cb, MR) * ldk;
                    deinterleave(weight, cin, co0, cb, ci0, kc, ldk, uStride, g, gt);
                    transformWeights(gt, uPlane, uStride, u);
                    for (int p = 0; p < P; p++) {
                        Winograd.product(cb, tp, kc, u, OFF + p * uStride, ldk, v,
                                OFF + p * vPlane + ci0 * NR, cin * NR, m, OFF + p * cb * ldm, ldm, kb > 0, tile);
                    }
                }
                transformOutput(m, cb, ldm, tiles, tilesPerImage, tx, w, h, co0, cout, b, ra, ro, ya, yo);
            }
        });
        // Back to the open scope's pool: a U-Net step made 44 MB of these afresh (0.02 -> 0.07 GB a step).
        TensorScope.release(v);
        return out;
    }

    private static int roundUp(int x, int m) {
        return (x + m - 1) / m * m;
    }

    /** First input channel of block {@code b}: on a gather group, so that blocks never overlap. */
    private static int kStart(int cin, int kBlocks, int b) {
        return b >= kBlocks ? cin : (int) ((long) cin * b / kBlocks) / Gemm.GATHER_K * Gemm.GATHER_K;
    }

    /**
     * {@code Bᵀ d B} of the 4×4 tile at {@code pad[at…]} (rows {@code wp} apart), {@code Bᵀ} rows
     * {@code (1, 0, -1, 0)}, {@code (0, 1, 1, 0)}, {@code (0, -1, 1, 0)}, {@code (0, 1, 0, -1)}: position p to
     * {@code v[dst + p·vPlane]}.
     */
    private static void transformInput(float[] pad, int at, int wp, float[] v, int dst, int vPlane) {
        float[] d = pad;
        int a1 = at + wp;
        int a2 = at + 2 * wp;
        int a3 = at + 3 * wp;
        columns(d[at] - d[a2], d[at + 1] - d[a2 + 1], d[at + 2] - d[a2 + 2], d[at + 3] - d[a2 + 3], v, dst, vPlane);
        columns(d[a1] + d[a2], d[a1 + 1] + d[a2 + 1], d[a1 + 2] + d[a2 + 2], d[a1 + 3] + d[a2 + 3], v,
                dst + 4 * vPlane, vPlane);
        columns(d[a2] - d[a1], d[a2 + 1] - d[a1 + 1], d[a2 + 2] - d[a1 + 2], d[a2 + 3] - d[a1 + 3], v,
                dst + 8 * vPlane, vPlane);
        columns(d[a1] - d[a3], d[a1 + 1] - d[a3 + 1], d[a1 + 2] - d[a3 + 2], d[a1 + 3] - d[a3 + 3], v,
                dst + 12 * vPlane, vPlane);
    }

    /** The column stage of one row {@code e} of {@code Bᵀ d}: its four positions, {@code vPlane} apart. */
    private static void columns(float e0, float e1, float e2, float e3, float[] v, int o, int vPlane) {
        v[o] = e0 - e2;
        v[o + vPlane] = e1 + e2;
        v[o + 2 * vPlane] = e2 - e1;
        v[o + 3 * vPlane] = e1 - e3;
    }

    /**
     * The block's kernels ({@code cb} output channels from {@code co0}, input channels {@code [ci0, ci0 + kc)}) as
     * nine planes {@code gt[tap]} ({@code stride} apart from {@link #OFF}) in the GEMM's packed A layout, rows past
     * {@code cb} zero, as {@link Winograd} de-interleaves its own; panel by panel, {@link #CONVERT_CHANNELS} input
     * channels at a time.
     */
    private static void deinterleave(Tensor weight, int cin, int co0, int cb, int ci0, int kc, int ldk, int stride,
                                     float[] g, float[] gt) {
        int panels = (cb + MR - 1) / MR;
        int[] map = CHUNK_MAP;
        int mapLen = CONVERT_CHANNELS * 9;
        for (int p = 0; p < panels; p++) {
            int rows = Math.min(MR, cb - p * MR);
            for (int k0 = 0; k0 < kc; k0 += CONVERT_CHANNELS) {
                int len = Math.min(CONVERT_CHANNELS, kc - k0);
                int rowLen = len * 9;
                for (int r = 0; r < rows; r++) {
                    Winograd.weightRun(weight, ((long) (co0 + p * MR + r) * cin + ci0 + k0) * 9, g, r * rowLen,
                            rowLen);
                }
                java.util.Arrays.fill(g, rows * rowLen, MR * rowLen, 0f);
                if (rowLen != mapLen) {
                    map = Winograd.tapMap(rowLen);
                    mapLen = rowLen;
                }
                Winograd.gatherTaps(g, 0, map, roundUp(len, Gemm.GATHER_K), gt, OFF + p * MR * ldk + k0 * MR, stride);
            }
        }
    }

    /**
     * {@code U = G g Gᵀ} element-wise over the de-interleaved planes ({@code g[r][c]} at plane {@code 3r + c}), G of
     * F(2,3) with rows {@code (1, 0, 0)}, {@code (1, 1, 1)/2}, {@code (1, -1, 1)/2}, {@code (0, 0, 1)}: position
     * {@code 4i + j} to {@code u[OFF + (4i + j)·stride …]}, the same packed layout.
     */
    private static void transformWeights(float[] gt, int len, int stride, float[] u) {
        for (int e = OFF; e < OFF + len; e += L) {
            // Row stage (rows i of G·g, column c) into u's planes 4i + c, read back by the column stage: written
            // out with all sixteen results in registers and a column-stage helper, the call ran 20-25 % slower (not
            // examined further).
            for (int c = 0; c < 3; c++) {
                FloatVector g0 = FloatVector.fromArray(S, gt, e + c * stride);
                FloatVector g1 = FloatVector.fromArray(S, gt, e + (3 + c) * stride);
                FloatVector g2 = FloatVector.fromArray(S, gt, e + (6 + c) * stride);
                FloatVector s = g0.add(g2).mul(0.5f);
                FloatVector h1 = g1.mul(0.5f);
                g0.intoArray(u, e + c * stride);
                s.add(h1).intoArray(u, e + (4 + c) * stride);
                s.sub(h1).intoArray(u, e + (8 + c) * stride);
                g2.intoArray(u, e + (12 + c) * stride);
            }
            for (int i = 0; i < 4; i++) {
                int base = e + 4 * i * stride;
                FloatVector t0 = FloatVector.fromArray(S, u, base);
                FloatVector t1 = FloatVector.fromArray(S, u, base + stride);
                FloatVector t2 = FloatVector.fromArray(S, u, base + 2 * stride);
                FloatVector s = t0.add(t2).mul(0.5f);
                FloatVector h1 = t1.mul(0.5f);
                t0.intoArray(u, base);
                s.add(h1).intoArray(u, base + stride);
                s.sub(h1).intoArray(u, base + 2 * stride);
                t2.intoArray(u, base + 3 * stride);
            }
        }
    }

    /**
     * {@code out = Aᵀ M A + bias (+ residual)} for the block's {@code cb} channels from {@code co0}, {@code Aᵀ} rows
     * {@code (1, 1, 1, 0)}, {@code (0, 1, -1, -1)}; M row r of position p at {@code m[OFF + (p·cb + r)·ldm + tile]}.
     */
    private static void transformOutput(float[] m, int cb, int ldm, int tiles, int tilesPerImage, int tx, int w,
                                        int h, int co0, int cout, float[] bias, float[] res, int ro, float[] y,
                                        int yo) {
        float[] q = new float[16];
        int plane = h * w;
        for (int r = 0; r < cb; r++) {
            int co = co0 + r;
            float bv = bias == null ? 0f : bias[co];
            for (int tile = 0; tile < tiles; tile++) {
                for (int p = 0; p < P; p++) {
                    q[p] = m[OFF + (p * cb + r) * ldm + tile];
                }
                float a0 = q[0] + q[4] + q[8];
                float a1 = q[1] + q[5] + q[9];
                float a2 = q[2] + q[6] + q[10];
                float a3 = q[3] + q[7] + q[11];
                float b0 = q[4] - q[8] - q[12];
                float b1 = q[5] - q[9] - q[13];
                float b2 = q[6] - q[10] - q[14];
                float b3 = q[7] - q[11] - q[15];
                int img = tile / tilesPerImage;
                int t = tile % tilesPerImage;
                int o = (img * cout + co) * plane + (t / tx) * 2 * w + (t % tx) * 2;
                store(y, yo + o, a0 + a1 + a2 + bv, res, ro + o);
                store(y, yo + o + 1, a1 - a2 - a3 + bv, res, ro + o + 1);
                store(y, yo + o + w, b0 + b1 + b2 + bv, res, ro + o + w);
                store(y, yo + o + w + 1, b1 - b2 - b3 + bv, res, ro + o + w + 1);
            }
        }
    }

    private static void store(float[] y, int at, float value, float[] res, int r) {
        y[at] = res == null ? value : value + res[r];
    }
}
