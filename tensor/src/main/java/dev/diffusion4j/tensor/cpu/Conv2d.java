package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ArrayAlignment;
import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * 2-D convolution (NCHW) as an implicit GEMM on {@link Gemm}: per image, {@code C[Cout, Hout·Wout] =
 * W[Cout, Cin·kH·kW] · im2col[Cin·kH·kW, Hout·Wout]}. The im2col matrix is never built: its blocks are
 * packed straight from the input ({@link Im2col}), so memory stays at the size of the input and output.
 * With stride 1 and output rows of whole vectors (the U-Net's 3×3 convolutions at 64, 32 and 16 pixels),
 * not even that: the GEMM reads B in place from a zero-padded copy of the input ({@link Gemm.DirectB}), made a
 * band of rows at a time (at most 16 MB) so a large input is never copied whole. The input is read through
 * {@link ConvRows}, so a fused prologue (GroupNorm + SiLU, nearest up-sampling) is applied while copying.
 * A 1×1 convolution with stride 1 and no padding is a plain GEMM on the input. The small images of a
 * batch (below 1024 output pixels) are convolved as one GEMM with the images side by side in N.
 */
public final class Conv2d {
    private Conv2d() {
    }

    /** See {@link dev.diffusion4j.tensor.Backend#conv2d(Tensor, Tensor, Tensor, int, int, int, int, int)}. */
    public static Tensor conv2d(ComputePool pool, Tensor x, Tensor weight, Tensor bias, int stride,
                                int padTop, int padBottom, int padLeft, int padRight) {
        return conv2d(pool, ConvAlgorithm.AUTO, x, weight, bias, stride, padTop, padBottom, padLeft, padRight);
    }

    /**
     * As {@link #conv2d(ComputePool, Tensor, Tensor, Tensor, int, int, int, int, int)}; {@code algorithm}
     * {@link ConvAlgorithm#DIRECT} rules out {@link Winograd} (used for the 3×3 sizes where {@link Winograd#pays}).
     */
    public static Tensor conv2d(ComputePool pool, ConvAlgorithm algorithm, Tensor x, Tensor weight, Tensor bias,
                                int stride, int padTop, int padBottom, int padLeft, int padRight) {
        Kernels.requireNonNull("conv2d", "x", x);
        if (x.rank() != 4) {
            throw shapeError(x.shape().toString(), weight, bias);
        }
        Tensor xin = Kernels.heap(x);
        return conv2d(pool, algorithm, xin, ConvRows.of(xin), weight, bias, stride, padTop, padBottom, padLeft,
                padRight, null, false);
    }

    /**
     * The convolution of the logical input {@code rows} (x itself, or a fused prologue of it), plus {@code residual}
     * (null, or a tensor of the output's shape) added to the output; by {@link Winograd} (or on small maps
     * {@link WinogradF2}) where it pays (unless {@code algorithm} is {@link ConvAlgorithm#DIRECT}).
     *
     * @param plain x when {@code rows} are exactly its rows (lets a 1×1 convolution read it in place), else null
     * @param residualIsScratch the result may be written into {@code residual}'s storage
     */
    static Tensor conv2d(ComputePool pool, ConvAlgorithm algorithm, Tensor plain, ConvRows rows, Tensor weight,
                         Tensor bias, int stride, int padTop, int padBottom, int padLeft, int padRight, Tensor residual,
                         boolean residualIsScratch) {
        Kernels.requireNonNull("conv2d", "weight", weight);
        if (Winograd.pays(algorithm, rows.batch(), rows.channels(), rows.height(), rows.width(), weight, bias, stride,
                padTop, padBottom, padLeft, padRight)) {
            return Winograd.conv3x3(pool, rows, weight, bias, residual, residualIsScratch, padTop, padBottom, padLeft,
                    padRight);
        }
        if (WinogradF2.pays(algorithm, rows.batch(), rows.channels(), rows.height(), rows.width(), weight, bias,
                stride, padTop, padBottom, padLeft, padRight)) {
            return WinogradF2.conv3x3(pool, rows, weight, bias, residual);
        }
        return conv2d(pool, plain, rows, weight, bias, stride, padTop, padBottom, padLeft, padRight, residual,
                residualIsScratch, BAND_FLOATS, FewChannelConv.applies(weight, stride));
    }

    /** The direct (implicit GEMM) path, with the most floats one padded band may hold (tests make it small). */
    static Tensor conv2d(ComputePool pool, Tensor plain, ConvRows rows, Tensor weight, Tensor bias, int stride,
                         int padTop, int padBottom, int padLeft, int padRight, Tensor residual,
                         boolean residualIsScratch, long bandFloats) {
        return conv2d(pool, plain, rows, weight, bias, stride, padTop, padBottom, padLeft, padRight, residual,
                residualIsScratch, bandFloats, false);
    }

    /**
     * The direct path, or with {@code fewChannels} (which needs {@link FewChannelConv#applies}) the one for few
     * output channels.
     */
    static Tensor conv2d(ComputePool pool, Tensor plain, ConvRows rows, Tensor weight, Tensor bias, int stride,
                         int padTop, int padBottom, int padLeft, int padRight, Tensor residual,
                         boolean residualIsScratch, long bandFloats, boolean fewChannels) {
        String inShape = "[" + rows.batch() + ", " + rows.channels() + ", " + rows.height() + ", " + rows.width() + "]";
        Kernels.requireNonNull("conv2d", "weight", weight);
        if (weight.rank() != 4 || rows.channels() != weight.dim(1)
                || (bias != null && (bias.rank() != 1 || bias.dim(0) != weight.dim(0)))) {
            throw shapeError(inShape, weight, bias);
        }
        if (stride < 1 || padTop < 0 || padBottom < 0 || padLeft < 0 || padRight < 0) {
            throw new IllegalArgumentException("conv2d: stride " + stride + " must be >= 1 and padding ("
                    + padTop + ", " + padBottom + ", " + padLeft + ", " + padRight + ") >= 0 for x " + inShape
                    + " and weight " + weight.shape());
        }
        int n = rows.batch();
        int cin = rows.channels();
        int h = rows.height();
        int w = rows.width();
        int cout = weight.dim(0);
        int kh = weight.dim(2);
        int kw = weight.dim(3);
        int hp = h + padTop + padBottom;
        int wp = w + padLeft + padRight;
        if (kh < 1 || kw < 1 || hp < kh || wp < kw) {
            throw new IllegalArgumentException("conv2d: kernel " + kh + "x" + kw + " does not fit the padded input "
                    + hp + "x" + wp + " (x " + inShape + ", weight " + weight.shape() + ")");
        }
        int hout = (hp - kh) / stride + 1;
        int wout = (wp - kw) / stride + 1;
        if (residual != null && !residual.shape().equals(dev.diffusion4j.tensor.Shape.of(n, cout, hout, wout))) {
            throw new IllegalArgumentException("conv2d: residual " + residual.shape() + " does not match the output ["
                    + n + ", " + cout + ", " + hout + ", " + wout + "] of x " + inShape + " and weight " + weight.shape());
        }
        pool = Gemm.poolFor(pool, weight, bias);
        if (fewChannels) {
            return FewChannelConv.conv2d(pool, rows, weight, bias, padTop, padLeft, hout, wout, residual,
                    residualIsScratch);
        }
        int kdim = cin * kh * kw;
        int hw = hout * wout;
        float[] rowBias = bias == null ? null : Gemm.toFloats(bias);
        Gemm.PackA a = Gemm.viewA(weight, 0, kdim, 1);
        boolean oneByOne = kh == 1 && kw == 1 && stride == 1 && padTop == 0 && padBottom == 0 && padLeft == 0
                && padRight == 0;
        if (oneByOne && hw < FUSED_1X1_BELOW) {
            Tensor xin = plain != null ? plain : ConvRows.materialize(pool, rows);
            return FusedLinear.conv1x1(pool, xin, weight, bias, residual, residualIsScratch);
        }
        // Stride 1 with output rows of whole vectors: B is read in place from a zero-padded copy of the input
        // (no im2col packing at all), made a band of rows at a time; else the im2col blocks are packed.
        boolean direct = stride == 1 && !oneByOne && wout % Gemm.VECTOR_COLUMNS == 0 && hw % Gemm.NR == 0;
        // Small images of a batch (the deep U-Net levels, run for cond and uncond) are one GEMM with the images
        // side by side in N, so each packed block of the weights serves more columns.
        boolean joint = n > 1 && hw < JOINT_BELOW && (!direct || (long) n * cin * hp * wp < Integer.MAX_VALUE - 8);
        if (joint) {
            Gemm.PackB b;
            // The padded input and the product are this call's: reused storage inside a TensorScope.
            float[] padded = null;
            if (direct) {
                int plane = Math.multiplyExact(cin, Math.multiplyExact(hp, wp));
                padded = TensorScope.scratch(n * plane);
                fillBands(pool, rows, 0, n, -padTop, hp, padded, wp, padLeft);
                b = new PaddedInput(padded, rowOffsets(cin, kh, kw, hp, wp), wout, wp, hw, plane);
            } else {
                Tensor xin = plain != null ? plain : ConvRows.materialize(pool, rows);
                b = new Im2col(xin.array(), xin.offset(), h, w, kh, kw, stride, padTop, padLeft, wout, hw, cin * h * w);
            }
            // The product from a cache line on (see ArrayAlignment), as the output: its rows of whole lines.
            int cOff = ArrayAlignment.FLOAT_OFFSET;
            float[] c = TensorScope.scratchEmpty(Math.addExact(Math.multiplyExact(cout, n * hw), cOff));
            Gemm.gemm(pool, cout, n * hw, kdim, a, b, c, cOff, n * hw, rowBias, null, false);
            Tensor out = Tensor.empty(n, cout, hout, wout);
            float[] o = out.array();
            int oOff = out.offset();
            for (int co = 0; co < cout; co++) {
                for (int img = 0; img < n; img++) {
                    System.arraycopy(c, cOff + co * n * hw + img * hw, o, oOff + (img * cout + co) * hw, hw);
                }
            }
            TensorScope.release(c);
            TensorScope.release(padded);
            if (residual != null) {
                return Elementwise.add(pool, out, residual);
            }
            return out;
        }
        Tensor out;
        if (residual == null) {
            out = Tensor.empty(n, cout, hout, wout);
        } else if (residualIsScratch && Kernels.ownsStorage(residual)) {
            out = residual;
        } else {
            out = Kernels.heap(residual).copy();
        }
        boolean accumulate = residual != null;
        if (direct) {
            // Bands of output rows: the padded copy of a whole large input (256 channels at 512x512: 270 MB)
            // would be the biggest tensor of a VAE decode; a band is bounded.
            int bandRows = hout;
            if ((long) cin * (hout + kh - 1) * wp > bandFloats && wout % Gemm.NR == 0) {
                bandRows = (int) Math.max(MIN_BAND_ROWS, bandFloats / ((long) cin * wp) - (kh - 1));
                bandRows = Math.min(bandRows, hout);
            }
            int bandHp = bandRows + kh - 1;
            int plane = Math.multiplyExact(cin, Math.multiplyExact(bandHp, wp));
            float[] padded = TensorScope.scratch(plane);
            int[] offsets = rowOffsets(cin, kh, kw, bandHp, wp);
            for (int img = 0; img < n; img++) {
                for (int oy0 = 0; oy0 < hout; oy0 += bandRows) {
                    int rowsHere = Math.min(bandRows, hout - oy0);
                    fillBands(pool, rows, img, 1, oy0 - padTop, bandHp, padded, wp, padLeft);
                    int cols = rowsHere * wout;
                    Gemm.gemm(pool, cout, cols, kdim, a, new PaddedInput(padded, offsets, wout, wp, cols, plane),
                            out.array(), out.offset() + img * cout * hw + oy0 * wout, hw, rowBias, null, accumulate);
                }
            }
            TensorScope.release(padded);
            return out;
        }
        Tensor xin = plain != null ? plain : ConvRows.materialize(pool, rows);
        float[] xs = xin.array();
        for (int img = 0; img < n; img++) {
            int xOff = xin.offset() + img * cin * h * w;
            Gemm.PackB b = oneByOne ? Gemm.viewB(xin, (long) img * cin * h * w, hw, 1)
                    : new Im2col(xs, xOff, h, w, kh, kw, stride, padTop, padLeft, wout, hw, 0);
            Gemm.gemm(pool, cout, hw, kdim, a, b, out.array(), out.offset() + img * cout * hw, hw, rowBias, null,
                    accumulate);
        }
        return out;
    }

    private static IllegalArgumentException shapeError(String x, Tensor weight, Tensor bias) {
        return new IllegalArgumentException("conv2d: shapes x " + x + ", weight " + (weight == null ? "none" : weight.shape())
                + ", bias " + (bias == null ? "none" : bias.shape())
                + " (expected x [N, Cin, H, W], weight [Cout, Cin, kH, kW], bias [Cout])");
    }

    /** Output sizes below which the images of a batch are convolved as one GEMM. */
    private static final int JOINT_BELOW = 1024;
    /**
     * 1×1 convolutions of fewer output pixels go through {@link FusedLinear#conv1x1} (pixels as rows, the weight packed
     * once). One shape repeated on 2 threads: 960→320 at 64×64 44 → 25 ms, 1920→640 at 32×32 44 → 20 ms,
     * 2560→1280 at 16×16 27 → 15 ms; inside a U-Net step, where the old path ran faster than repeated alone, its
     * shortcuts took 6 % less (651 / 703 → 610 / 663 ms over 4 steps, two rounds). From 128×128 on (the VAE's) the
     * transposing epilogue costs more than it saves: 256→512 at 128×128 53 → 59 ms, 256→128 at 512×512 173 → 192 ms.
     */
    private static final int FUSED_1X1_BELOW = 128 * 128;
    /** Most floats in one padded band of the direct path (16 MB). */
    private static final long BAND_FLOATS = 1L << 22;
    private static final int MIN_BAND_ROWS = 4;

    /** Offset of each im2col row {@code (ci, ky, kx)} in a padded band of {@code bandHp} rows per channel. */
    static int[] rowOffsets(int cin, int kh, int kw, int bandHp, int wp) {
        int[] offsets = new int[cin * kh * kw];
        for (int ci = 0, k = 0; ci < cin; ci++) {
            for (int ky = 0; ky < kh; ky++) {
                for (int kx = 0; kx < kw; kx++) {
                    offsets[k++] = (ci * bandHp + ky) * wp + kx;
                }
            }
        }
        return offsets;
    }

    /**
     * Writes rows {@code y0 … y0 + bandHp - 1} of every channel of images {@code img0 …} into zero-padded bands
     * ({@code bandHp × wp} per channel, images one after another); rows outside the input are zeros. The left and
     * right borders are never written, so they stay 0 from the allocation.
     */
    private static void fillBands(ComputePool pool, ConvRows rows, int img0, int images, int y0, int bandHp,
                                  float[] dst, int wp, int padLeft) {
        int cin = rows.channels();
        int h = rows.height();
        pool.parallelFor(images * cin, 1, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                int img = t / cin;
                int c = t - img * cin;
                int base = t * bandHp * wp;
                for (int r = 0; r < bandHp; r++) {
                    int y = y0 + r;
                    int o = base + r * wp;
                    if (y < 0 || y >= h) {
                        Arrays.fill(dst, o, o + wp, 0f);
                    } else {
                        rows.row(img0 + img, c, y, dst, o + padLeft);
                    }
                }
            }
        });
    }

    /** The im2col matrix of a stride-1 convolution read in place from the zero-padded input. */
    private record PaddedInput(float[] data, int[] rowOffsets, int wout, int wp, int hw, int plane)
            implements Gemm.DirectB {
        @Override
        public int colOffset(int j) {
            int img = j / hw;
            int p = j - img * hw;
            int oy = p / wout;
            return img * plane + oy * wp + (p - oy * wout);
        }
    }

    /**
     * Packs blocks of the virtual im2col matrix of one image: row {@code (ci, ky, kx)}, column
     * {@code (oy, ox)} holds {@code x[ci, oy·s + ky - padTop, ox·s + kx - padLeft]}, or 0 in the padding.
     */
    static final class Im2col implements Gemm.PackB {
        private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
        private static final int LANES = S.length();
        /** Lane i takes lane 2i of two vectors one after the other (indices from LANES on: the second). */
        private static final VectorShuffle<Float> EVEN = VectorShuffle.fromOp(S, i -> 2 * i);
        private final float[] x;
        private final int xOff;
        private final int h;
        private final int w;
        private final int kh;
        private final int kw;
        private final int stride;
        private final int padTop;
        private final int padLeft;
        private final int wout;
        private final int hw;
        private final int imageStride;

        /**
         * Column {@code j} is output pixel {@code j % hw} of image {@code j / hw}, whose input starts
         * {@code imageStride} elements after the previous image's.
         */
        Im2col(float[] x, int xOff, int h, int w, int kh, int kw, int stride, int padTop, int padLeft, int wout,
               int hw, int imageStride) {
            this.hw = hw;
            this.imageStride = imageStride;
            this.x = x;
            this.xOff = xOff;
            this.h = h;
            this.w = w;
            this.kh = kh;
            this.kw = kw;
            this.stride = stride;
            this.padTop = padTop;
            this.padLeft = padLeft;
            this.wout = wout;
        }

        /**
         * {@code dst[o + t] = x[row + ix0 + 2t]} for {@code t < len}, 0 outside the row: the even lanes of two
         * consecutive vectors (one shuffle) for the columns inside, element by element only near the array's end.
         */
        private void packStrideTwo(int row, int ix0, int len, float[] dst, int o) {
            // Columns t in [lo, hi) read inside the row: ix0 + 2t in [0, w).
            int lo = ix0 >= 0 ? 0 : Math.min(len, (1 - ix0) / 2);
            int hi = Math.max(lo, Math.min(len, (w - ix0 + 1) / 2));
            Arrays.fill(dst, o, o + lo, 0f);
            Arrays.fill(dst, o + hi, o + len, 0f);
            int t = lo;
            for (; t < hi; t += LANES) {
                int src = row + ix0 + 2 * t;
                // Two vectors from src: lanes past the row's end (at most one vector's worth) are dropped.
                if (src + 2 * LANES > x.length) {
                    break;
                }
                FloatVector v = FloatVector.fromArray(S, x, src).rearrange(EVEN, FloatVector.fromArray(S, x, src + LANES));
                if (t + LANES <= hi) {
                    v.intoArray(dst, o + t);
                } else {
                    v.intoArray(dst, o + t, S.indexInRange(0, hi - t));
                }
            }
            for (; t < hi; t++) {
                dst[o + t] = x[row + ix0 + 2 * t];
            }
        }

        @Override
        public void pack(int k0, int kc, int j0, int nc, float[] dst, int dOff) {
            final int nr = Gemm.NR;
            int panels = (nc + nr - 1) / nr;
            // Runs of a panel's columns that share an output row:
            // (first column in the panel, length, oy, ox, offset of the image).
            int[] runs = new int[5 * (nr + 2)];
            for (int p = 0; p < panels; p++) {
                int jp = j0 + p * nr;
                int cols = Math.min(nr, j0 + nc - jp);
                int nRuns = 0;
                for (int c = 0; c < cols; ) {
                    int j = jp + c;
                    int img = j / hw;
                    int pix = j - img * hw;
                    int oy = pix / wout;
                    int ox = pix - oy * wout;
                    int len = Math.min(cols - c, wout - ox);
                    runs[5 * nRuns] = c;
                    runs[5 * nRuns + 1] = len;
                    runs[5 * nRuns + 2] = oy;
                    runs[5 * nRuns + 3] = ox;
                    runs[5 * nRuns + 4] = img * imageStride;
                    nRuns++;
                    c += len;
                }
                int d = dOff + p * nr * kc;
                int kk = k0;
                int ci = kk / (kh * kw);
                int rem = kk - ci * kh * kw;
                int ky = rem / kw;
                int kx = rem - ky * kw;
                for (int k = 0; k < kc; k++) {
                    int dk = d + k * nr;
                    int chan = xOff + ci * h * w;
                    for (int r = 0; r < nRuns; r++) {
                        int c = runs[5 * r];
                        int len = runs[5 * r + 1];
                        int iy = runs[5 * r + 2] * stride + ky - padTop;
                        int ix0 = runs[5 * r + 3] * stride + kx - padLeft;
                        int o = dk + c;
                        if (iy < 0 || iy >= h) {
                            Arrays.fill(dst, o, o + len, 0f);
                            continue;
                        }
                        int row = chan + runs[5 * r + 4] + iy * w;
                        if (stride == 1 && len == nr && ix0 >= 0 && ix0 + nr <= w) {
                            // Interior run of a whole panel: plain vector copies (the common case).
                            for (int v = 0; v < nr; v += LANES) {
                                FloatVector.fromArray(S, x, row + ix0 + v).intoArray(dst, o + v);
                            }
                        } else if (stride == 1) {
                            int lo = Math.max(0, -ix0);
                            int hi = Math.min(len, w - ix0);
                            if (hi <= lo) {
                                Arrays.fill(dst, o, o + len, 0f);
                                continue;
                            }
                            for (int t = 0; t < lo; t++) {
                                dst[o + t] = 0f;
                            }
                            System.arraycopy(x, row + ix0 + lo, dst, o + lo, hi - lo);
                            for (int t = hi; t < len; t++) {
                                dst[o + t] = 0f;
                            }
                        } else if (stride == 2) {
                            packStrideTwo(row, ix0, len, dst, o);
                        } else {
                            for (int t = 0; t < len; t++) {
                                int ix = ix0 + t * stride;
                                dst[o + t] = ix >= 0 && ix < w ? x[row + ix] : 0f;
                            }
                        }
                    }
                    if (cols < nr) {
                        Arrays.fill(dst, dk + cols, dk + nr, 0f);
                    }
                    if (++kx == kw) {
                        kx = 0;
                        if (++ky == kh) {
                            ky = 0;
                            ci++;
                        }
                    }
                }
            }
        }
    }
}
