package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.HalfFloats;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import java.util.concurrent.ConcurrentLinkedQueue;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * 3×3 stride-1 convolution by Winograd's minimal filtering F(4×4, 3×3) (Lavin &amp; Gray, 2015): each 4×4
 * output tile is {@code Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A} of its 6×6 input tile {@code d}, so the 36 element-wise
 * products, summed over input channels, are 36 independent GEMMs {@code M[ξ] = U[ξ] · V[ξ]} ({@code U[ξ]}:
 * {@code Cout × Cin} transformed weights, {@code V[ξ]}: {@code Cin × tiles} transformed input) on {@link Gemm}.
 * That is 36 multiplications per 16 outputs instead of 144, i.e. 4× fewer for whole tiles.
 *
 * <p>Memory stays bounded per call: the tiles are processed in bands of tile rows (the transformed input of
 * one band is at most {@link #V_BUDGET} floats), and each task transforms the weights of its block of output
 * channels and a block of at most {@link Gemm#KC} input channels at a time, per band. Transformed weights are
 * never kept across calls (weights are often memory-mapped F16; the model must fit a memory budget).
 *
 * <p>The input is read only through {@link ConvRows}, one row at a time, into a small zero-bordered band of six
 * rows per tile row, so a fused producer (GroupNorm+SiLU, nearest upsampling) can stand in for a tensor.
 *
 * <p>Accuracy (float32): the transforms scale values by up to about 10 (points 0, ±1, ±2, ∞), so the rounding
 * error is larger than the direct convolution's; measured against a double-precision reference
 * ({@code WinogradTest}) it stays around 1e-6…1e-5 of the output scale for 320…2560 input channels.
 */
public final class Winograd {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Output tile side (m) and input tile side (m + r - 1). */
    private static final int M = 4;
    private static final int A = 6;
    /** Positions of the transformed tile: the number of GEMMs. */
    private static final int P = A * A;
    /** Floats of the transformed input of one band (16 MiB); one tile row is always taken whole. */
    static final int V_BUDGET = 4 << 20;
    /** Largest tiles per band (bounds each task's products {@code 36 · rows · tiles}). */
    static final int MAX_BAND_TILES = 512;
    /** Largest rows (output channels, in panels of {@link Gemm#MR}) of one task's block. */
    private static final int MAX_BLOCK_PANELS = 8;
    /** Runs the per-task GEMMs on the task's own thread. */
    private static final ComputePool SERIAL = new ComputePool(1);
    /** Lane offsets of 4-strided (one per tile) and 9-strided (one per 3×3 kernel) gathers and scatters. */
    private static final int[] STRIDE4 = strided(M);
    private static final int[] STRIDE9 = strided(9);
    /** For {@code l < L} lanes: {@code PARTIAL4[l·L + i]} is {@code 4·i} for {@code i < l}, else 0. */
    private static final int[] PARTIAL4 = partial(M);

    private Winograd() {
    }

    private static int[] partial(int step) {
        int[] map = new int[L * L];
        for (int l = 0; l < L; l++) {
            for (int i = 0; i < l; i++) {
                map[l * L + i] = i * step;
            }
        }
        return map;
    }

    private static int[] strided(int step) {
        int[] map = new int[L];
        for (int i = 0; i < L; i++) {
            map[i] = i * step;
        }
        return map;
    }

    /**
     * Whether {@link Conv2d} should compute this convolution here: a 3×3 kernel, stride 1, padding at most 2
     * per side, {@code algorithm} {@link ConvAlgorithm#AUTO}, and a size where it was measured to be faster than
     * the implicit GEMM on 2 threads: at least 64 input and output channels and output maps of at least 16×16
     * (smaller maps waste most of a 32-column GEMM panel on padding tiles; few channels make it transform-bound).
     * One row of tiles must also fit the per-call memory budget. Malformed arguments are left to the caller.
     */
    public static boolean pays(ConvAlgorithm algorithm, Tensor x, Tensor weight, Tensor bias, int stride,
                               int padTop, int padBottom, int padLeft, int padRight) {
        if (algorithm != ConvAlgorithm.AUTO || x.rank() != 4 || weight.rank() != 4 || stride != 1
                || weight.dim(2) != 3 || weight.dim(3) != 3 || x.dim(1) != weight.dim(1)
                || (bias != null && (bias.rank() != 1 || bias.dim(0) != weight.dim(0)))) {
            return false;
        }
        if (padTop > 2 || padBottom > 2 || padLeft > 2 || padRight > 2
                || padTop < 0 || padBottom < 0 || padLeft < 0 || padRight < 0) {
            return false;
        }
        int hout = x.dim(2) + padTop + padBottom - 2;
        int wout = x.dim(3) + padLeft + padRight - 2;
        int cin = weight.dim(1);
        int cout = weight.dim(0);
        long rowTiles = (long) P * cin * roundUp((wout + M - 1) / M, Gemm.NR);
        return cin >= 64 && cout >= 64 && hout >= 16 && wout >= 16 && rowTiles <= V_BUDGET;
    }

    /**
     * {@code conv2d(x, weight, stride 1, padding) + bias + residual} by Winograd F(4,3).
     *
     * @param x        input {@code [N, Cin, H, W]} (any dtype and storage)
     * @param weight   {@code [Cout, Cin, 3, 3]}, F32/F16/BF16, heap or segment
     * @param bias     {@code [Cout]} or null
     * @param residual {@code [N, Cout, Hout, Wout]} added to the output, or null
     * @return the F32 output {@code [N, Cout, H + padTop + padBottom - 2, W + padLeft + padRight - 2]}
     */
    public static Tensor conv3x3(ComputePool pool, Tensor x, Tensor weight, Tensor bias, Tensor residual,
                                 int padTop, int padBottom, int padLeft, int padRight) {
        if (x.rank() != 4) {
            throw new IllegalArgumentException("winograd conv3x3: x must be [N, Cin, H, W], got " + x.shape()
                    + " (weight " + weight.shape() + ")");
        }
        Tensor xin = x.isHeap() ? x : x.toHeapF32();
        ConvRows rows = ConvRows.of(xin.array(), xin.offset(), x.dim(0), x.dim(1), x.dim(2), x.dim(3));
        return conv3x3(pool, rows, weight, bias, residual, padTop, padBottom, padLeft, padRight);
    }

    /** As {@link #conv3x3(ComputePool, Tensor, Tensor, Tensor, Tensor, int, int, int, int)}, the input given by rows. */
    static Tensor conv3x3(ComputePool pool, ConvRows x, Tensor weight, Tensor bias, Tensor residual,
                          int padTop, int padBottom, int padLeft, int padRight) {
        int n = x.batch();
        int cin = x.channels();
        int h = x.height();
        int w = x.width();
        String shapes = " (x [" + n + ", " + cin + ", " + h + ", " + w + "], weight " + weight.shape()
                + ", bias " + (bias == null ? "none" : bias.shape())
                + ", residual " + (residual == null ? "none" : residual.shape()) + ")";
        if (weight.rank() != 4 || weight.dim(1) != cin || weight.dim(2) != 3 || weight.dim(3) != 3
                || (bias != null && (bias.rank() != 1 || bias.dim(0) != weight.dim(0)))) {
            throw new IllegalArgumentException("winograd conv3x3: expected weight [Cout, Cin, 3, 3] and bias [Cout]"
                    + shapes);
        }
        if (padTop < 0 || padBottom < 0 || padLeft < 0 || padRight < 0) {
            throw new IllegalArgumentException("winograd conv3x3: padding (" + padTop + ", " + padBottom + ", "
                    + padLeft + ", " + padRight + ") must be >= 0" + shapes);
        }
        int cout = weight.dim(0);
        int hout = h + padTop + padBottom - 2;
        int wout = w + padLeft + padRight - 2;
        if (n < 1 || cin < 1 || cout < 1 || hout < 1 || wout < 1) {
            throw new IllegalArgumentException("winograd conv3x3: empty input or output (" + hout + "x" + wout
                    + " with padding " + padTop + ", " + padBottom + ", " + padLeft + ", " + padRight + ")" + shapes);
        }
        float[] res = null;
        int resOff = 0;
        if (residual != null) {
            Shape want = Shape.of(n, cout, hout, wout);
            if (!residual.shape().equals(want)) {
                throw new IllegalArgumentException("winograd conv3x3: residual must be " + want + shapes);
            }
            Tensor r = residual.isHeap() ? residual : residual.toHeapF32();
            res = r.array();
            resOff = r.offset();
        }
        pool = Gemm.poolFor(pool, weight, bias);
        return new Plan(x, weight, bias == null ? null : Gemm.toFloats(bias), res, resOff, cout, hout, wout,
                padTop, padLeft, pool).run();
    }

    private static int roundUp(int v, int m) {
        return (v + m - 1) / m * m;
    }

    /** One call's sizes, shared buffers and per-task scratch. */
    private static final class Plan {
        final ConvRows x;
        final Tensor weight;
        final float[] bias;
        final float[] res;
        final int resOff;
        final ComputePool pool;
        final int n;
        final int cin;
        final int h;
        final int w;
        final int cout;
        final int hout;
        final int wout;
        final int padTop;
        final int padLeft;
        final int tilesX;
        final int tilesY;
        final int rowsPerBand;
        final int tpMax;
        /** Width of a band row buffer: the input columns of every tile, plus gather slack. */
        final int bw;
        final int blocks;
        final int mPanels;
        final int kBlocks;
        final int kbMax;
        final int cbMax;
        final float[] out;
        /** Transformed input of one band: {@code V[ξ][ci][t]}, row stride {@code tp}. */
        final float[] v;
        final ConcurrentLinkedQueue<Scratch> scratch = new ConcurrentLinkedQueue<>();
        final ConcurrentLinkedQueue<float[]> bands = new ConcurrentLinkedQueue<>();
        final Tensor outTensor;

        Plan(ConvRows x, Tensor weight, float[] bias, float[] res, int resOff, int cout, int hout, int wout,
             int padTop, int padLeft, ComputePool pool) {
            this.x = x;
            this.weight = weight;
            this.bias = bias;
            this.res = res;
            this.resOff = resOff;
            this.pool = pool;
            this.n = x.batch();
            this.cin = x.channels();
            this.h = x.height();
            this.w = x.width();
            this.cout = cout;
            this.hout = hout;
            this.wout = wout;
            this.padTop = padTop;
            this.padLeft = padLeft;
            tilesX = (wout + M - 1) / M;
            tilesY = (hout + M - 1) / M;
            int tileRows = n * tilesY;
            int maxTiles = Math.min(MAX_BAND_TILES, V_BUDGET / (P * cin));
            int rows = Math.max(1, Math.min(tileRows, maxTiles / tilesX));
            int nBands = (tileRows + rows - 1) / rows;
            rowsPerBand = (tileRows + nBands - 1) / nBands;
            tpMax = roundUp(rowsPerBand * tilesX, Gemm.NR);
            bw = roundUp(roundUp(tilesX, L) * M + A, L);
            mPanels = (cout + Gemm.MR - 1) / Gemm.MR;
            int threads = pool.threads();
            int nb = Math.max((mPanels + MAX_BLOCK_PANELS - 1) / MAX_BLOCK_PANELS, 2 * threads);
            nb = roundUp(nb, threads);
            blocks = Math.min(nb, mPanels);
            cbMax = (mPanels + blocks - 1) / blocks * Gemm.MR;
            kBlocks = (cin + Gemm.KC - 1) / Gemm.KC;
            kbMax = (cin + kBlocks - 1) / kBlocks;
            v = new float[Math.multiplyExact(P * cin, tpMax) + L];
            outTensor = Tensor.zeros(n, cout, hout, wout);
            out = outTensor.array();
        }

        Tensor run() {
            int tileRows = n * tilesY;
            for (int r0 = 0; r0 < tileRows; r0 += rowsPerBand) {
                final int first = r0;
                final int count = Math.min(rowsPerBand, tileRows - r0);
                final int tp = roundUp(count * tilesX, Gemm.NR);
                int[] rowOffsets = new int[cin];
                for (int k = 0; k < cin; k++) {
                    rowOffsets[k] = k * tp;
                }
                pool.parallelFor(cin * count, (from, to) -> {
                    float[] buf = takeBand();
                    for (int i = from; i < to; i++) {
                        transformInput(i / count, first, i % count, tp, buf);
                    }
                    bands.add(buf);
                });
                pool.parallelFor(blocks, 1, (from, to) -> {
                    Scratch s = takeScratch();
                    for (int b = from; b < to; b++) {
                        int co0 = (int) ((long) mPanels * b / blocks) * Gemm.MR;
                        int co1 = Math.min(cout, (int) ((long) mPanels * (b + 1) / blocks) * Gemm.MR);
                        block(co0, co1, first, count, tp, rowOffsets, s);
                    }
                    scratch.add(s);
                });
            }
            return outTensor;
        }

        private float[] takeBand() {
            float[] b = bands.poll();
            return b != null ? b : new float[2 * A * bw];
        }

        private Scratch takeScratch() {
            Scratch s = scratch.poll();
            return s != null ? s : new Scratch(this);
        }

        /** Transforms channel {@code ci} of tile row {@code first + rr} into {@code V[·][ci][rr·tilesX …]}. */
        private void transformInput(int ci, int first, int rr, int tp, float[] buf) {
            int r = first + rr;
            int img = r / tilesY;
            int ty = r - img * tilesY;
            int y0 = ty * M - padTop;
            // Six zero-bordered input rows d[0..5], then Bᵀd row-wise into t[0..5] (vectors along x).
            int t = A * bw;
            java.util.Arrays.fill(buf, 0, A * bw, 0f);
            for (int i = 0; i < A; i++) {
                int y = y0 + i;
                if (y >= 0 && y < h) {
                    x.row(img, ci, y, buf, i * bw + padLeft);
                }
            }
            for (int b = 0; b < bw; b += L) {
                bt(FloatVector.fromArray(S, buf, b), FloatVector.fromArray(S, buf, bw + b),
                        FloatVector.fromArray(S, buf, 2 * bw + b), FloatVector.fromArray(S, buf, 3 * bw + b),
                        FloatVector.fromArray(S, buf, 4 * bw + b), FloatVector.fromArray(S, buf, 5 * bw + b),
                        buf, t + b, bw, null);
            }
            // Column-wise (·B) over L tiles at once: tile tx's column c is t[i][4·tx + c] (4-strided gathers).
            int plane = cin * tp;
            for (int tx0 = 0; tx0 < tilesX; tx0 += L) {
                VectorMask<Float> mask = tx0 + L <= tilesX ? null : S.indexInRange(tx0, tilesX);
                int dst = ci * tp + rr * tilesX + tx0;
                for (int i = 0; i < A; i++) {
                    int src = t + i * bw + tx0 * M;
                    bt(FloatVector.fromArray(S, buf, src, STRIDE4, 0),
                            FloatVector.fromArray(S, buf, src + 1, STRIDE4, 0),
                            FloatVector.fromArray(S, buf, src + 2, STRIDE4, 0),
                            FloatVector.fromArray(S, buf, src + 3, STRIDE4, 0),
                            FloatVector.fromArray(S, buf, src + 4, STRIDE4, 0),
                            FloatVector.fromArray(S, buf, src + 5, STRIDE4, 0),
                            v, dst + i * A * plane, plane, mask);
                }
            }
        }

        /** Output channels {@code [co0, co1)} of one band: weight transform, 36 GEMMs per K block, output transform. */
        private void block(int co0, int co1, int first, int count, int tp, int[] rowOffsets, Scratch s) {
            int cb = co1 - co0;
            for (int kb = 0; kb < kBlocks; kb++) {
                int ci0 = (int) ((long) cin * kb / kBlocks);
                int kc = (int) ((long) cin * (kb + 1) / kBlocks) - ci0;
                transformWeights(co0, cb, ci0, kc, s);
                for (int p = 0; p < P; p++) {
                    Gemm.gemm(SERIAL, cb, tp, kc, Gemm.viewA(s.uTensor, (long) p * cb * kc, kc, 1),
                            new Band(v, (p * cin + ci0) * tp, rowOffsets), s.m, p * cb * tp, tp, null, null, kb > 0);
                }
            }
            transformOutput(co0, cb, first, count, tp, s);
        }

        /** {@code U[ξ][co - co0][ci - ci0] = (G g Gᵀ)[ξ]} for the block, vectorised along input channels. */
        private void transformWeights(int co0, int cb, int ci0, int kc, Scratch s) {
            float[] g = s.g;
            float[] u = s.u;
            float[] ts = s.ts;
            int plane = cb * kc;
            for (int r = 0; r < cb; r++) {
                long src = ((long) (co0 + r) * cin + ci0) * 9;
                if (weight.isHeap()) {
                    System.arraycopy(weight.array(), weight.offset() + (int) src, g, 0, kc * 9);
                } else {
                    HalfFloats.toFloats(weight.segment(), weight.dtype(), src, g, 0, kc * 9);
                }
                for (int k = 0; k < kc; k += L) {
                    VectorMask<Float> mask = k + L <= kc ? null : S.indexInRange(k, kc);
                    int gk = k * 9;
                    // G·g column by column: ts[i][c] for the 3 columns c of the kernel.
                    for (int c = 0; c < 3; c++) {
                        gcol(FloatVector.fromArray(S, g, gk + c, STRIDE9, 0),
                                FloatVector.fromArray(S, g, gk + 3 + c, STRIDE9, 0),
                                FloatVector.fromArray(S, g, gk + 6 + c, STRIDE9, 0),
                                ts, c * L, 3 * L, null);
                    }
                    // (G·g)·Gᵀ row by row, into the 36 planes.
                    for (int i = 0; i < A; i++) {
                        gcol(FloatVector.fromArray(S, ts, (i * 3) * L),
                                FloatVector.fromArray(S, ts, (i * 3 + 1) * L),
                                FloatVector.fromArray(S, ts, (i * 3 + 2) * L),
                                u, i * A * plane + r * kc + k, plane, mask);
                    }
                }
            }
        }

        /** {@code out = Aᵀ M A + bias (+ residual)} for the block's channels and the band's tiles. */
        private void transformOutput(int co0, int cb, int first, int count, int tp, Scratch s) {
            float[] m = s.m;
            float[] ss = s.ts;
            int plane = cb * tp;
            for (int r = 0; r < cb; r++) {
                int co = co0 + r;
                FloatVector bv = FloatVector.broadcast(S, bias == null ? 0f : bias[co]);
                FloatVector two = FloatVector.broadcast(S, 2f);
                FloatVector four = FloatVector.broadcast(S, 4f);
                FloatVector eight = FloatVector.broadcast(S, 8f);
                for (int rr = 0; rr < count; rr++) {
                    int row = first + rr;
                    int img = row / tilesY;
                    int ty = row - img * tilesY;
                    int chan = (img * cout + co) * hout;
                    for (int tx0 = 0; tx0 < tilesX; tx0 += L) {
                        int mi = r * tp + rr * tilesX + tx0;
                        // Aᵀ·M column by column: ss[i][c], i < 4.
                        for (int c = 0; c < A; c++) {
                            FloatVector m0 = FloatVector.fromArray(S, m, mi + c * plane);
                            FloatVector m1 = FloatVector.fromArray(S, m, mi + (A + c) * plane);
                            FloatVector m2 = FloatVector.fromArray(S, m, mi + (2 * A + c) * plane);
                            FloatVector m3 = FloatVector.fromArray(S, m, mi + (3 * A + c) * plane);
                            FloatVector m4 = FloatVector.fromArray(S, m, mi + (4 * A + c) * plane);
                            FloatVector m5 = FloatVector.fromArray(S, m, mi + (5 * A + c) * plane);
                            at(m0, m1, m2, m3, m4, m5, ss, c * L, A * L);
                        }
                        int left = wout - tx0 * M;
                        for (int i = 0; i < M; i++) {
                            int y = ty * M + i;
                            if (y >= hout) {
                                break;
                            }
                            int o = i * A * L;
                            FloatVector s0 = FloatVector.fromArray(S, ss, o);
                            FloatVector s1 = FloatVector.fromArray(S, ss, o + L);
                            FloatVector s2 = FloatVector.fromArray(S, ss, o + 2 * L);
                            FloatVector s3 = FloatVector.fromArray(S, ss, o + 3 * L);
                            FloatVector s4 = FloatVector.fromArray(S, ss, o + 4 * L);
                            FloatVector s5 = FloatVector.fromArray(S, ss, o + 5 * L);
                            FloatVector a = s1.add(s2);
                            FloatVector b = s1.sub(s2);
                            FloatVector c = s3.add(s4);
                            FloatVector d = s3.sub(s4);
                            int base = (chan + y) * wout + tx0 * M;
                            store(s0.add(a).add(c).add(bv), base, left);
                            store(d.fma(two, b).add(bv), base + 1, left - 1);
                            store(c.fma(four, a).add(bv), base + 2, left - 2);
                            store(d.fma(eight, b).add(s5).add(bv), base + 3, left - 3);
                        }
                    }
                }
            }
        }

        /** Scatters one output column of L tiles ({@code 4·lane + base}), the first {@code ceil(left / 4)} of them. */
        private void store(FloatVector y, int base, int left) {
            if (left <= 0) {
                return;
            }
            int lanes = (left + M - 1) / M;
            if (lanes >= L) {
                if (res != null) {
                    y = y.add(FloatVector.fromArray(S, res, resOff + base, STRIDE4, 0));
                }
                y.intoArray(out, base, STRIDE4, 0);
            } else {
                // The masked lanes' indices are checked too, so they repeat lane 0's (which is in range).
                VectorMask<Float> mask = S.indexInRange(0, lanes);
                if (res != null) {
                    y = y.add(FloatVector.fromArray(S, res, resOff + base, PARTIAL4, lanes * L, mask));
                }
                y.intoArray(out, base, PARTIAL4, lanes * L, mask);
            }
        }
    }

    /** Per-task buffers: converted weights, transformed weights, the 36 GEMM outputs and a small stage buffer. */
    private static final class Scratch {
        final float[] g;
        final float[] u;
        final Tensor uTensor;
        final float[] m;
        final float[] ts;

        Scratch(Plan plan) {
            g = new float[(plan.kbMax + L) * 9];
            u = new float[P * plan.cbMax * plan.kbMax + L];
            uTensor = Tensor.of(u, 0, Shape.of(u.length));
            m = new float[P * plan.cbMax * plan.tpMax + L];
            ts = new float[A * A * L];
        }
    }

    /** {@code B(k, j) = data[base + k·tp + j]}: one position's transformed input, read in place by the GEMM. */
    private record Band(float[] data, int base, int[] rowOffsets) implements Gemm.DirectB {
        @Override
        public int colOffset(int j) {
            return base + j;
        }
    }

    /** Rows (or columns) {@code Bᵀ·d} of F(4,3): six values in, six out, written at {@code dst[off + i·stride]}. */
    private static void bt(FloatVector d0, FloatVector d1, FloatVector d2, FloatVector d3, FloatVector d4,
                           FloatVector d5, float[] dst, int off, int stride, VectorMask<Float> mask) {
        FloatVector four = FloatVector.broadcast(S, 4f);
        FloatVector five = FloatVector.broadcast(S, -5f);
        FloatVector two = FloatVector.broadcast(S, 2f);
        FloatVector o0 = d2.fma(five, d4).add(d0.mul(four));
        FloatVector o1 = d1.add(d2).fma(four.neg(), d3.add(d4));
        FloatVector o2 = d1.sub(d2).fma(four, d4.sub(d3));
        FloatVector o3 = d3.sub(d1).fma(two, d4.sub(d2));
        FloatVector o4 = d1.sub(d3).fma(two, d4.sub(d2));
        FloatVector o5 = d3.fma(five, d5).add(d1.mul(four));
        put(o0, dst, off, mask);
        put(o1, dst, off + stride, mask);
        put(o2, dst, off + 2 * stride, mask);
        put(o3, dst, off + 3 * stride, mask);
        put(o4, dst, off + 4 * stride, mask);
        put(o5, dst, off + 5 * stride, mask);
    }

    /** {@code G·(g0, g1, g2)} of F(4,3): three values in, six out, written at {@code dst[off + i·stride]}. */
    private static void gcol(FloatVector g0, FloatVector g1, FloatVector g2, float[] dst, int off, int stride,
                             VectorMask<Float> mask) {
        FloatVector sum = g0.add(g2);
        FloatVector even = g0.mul(1f / 24).add(g2.mul(1f / 6));
        FloatVector odd = g1.mul(1f / 12);
        put(g0.mul(0.25f), dst, off, mask);
        put(sum.add(g1).mul(-1f / 6), dst, off + stride, mask);
        put(sum.sub(g1).mul(-1f / 6), dst, off + 2 * stride, mask);
        put(even.add(odd), dst, off + 3 * stride, mask);
        put(even.sub(odd), dst, off + 4 * stride, mask);
        put(g2, dst, off + 5 * stride, mask);
    }

    /** {@code Aᵀ·(m0 … m5)} of F(4,3): six values in, four out, written at {@code dst[off + i·stride]}. */
    private static void at(FloatVector m0, FloatVector m1, FloatVector m2, FloatVector m3, FloatVector m4,
                           FloatVector m5, float[] dst, int off, int stride) {
        FloatVector a = m1.add(m2);
        FloatVector b = m1.sub(m2);
        FloatVector c = m3.add(m4);
        FloatVector d = m3.sub(m4);
        m0.add(a).add(c).intoArray(dst, off);
        d.fma(FloatVector.broadcast(S, 2f), b).intoArray(dst, off + stride);
        c.fma(FloatVector.broadcast(S, 4f), a).intoArray(dst, off + 2 * stride);
        d.fma(FloatVector.broadcast(S, 8f), b).add(m5).intoArray(dst, off + 3 * stride);
    }

    private static void put(FloatVector v, float[] dst, int off, VectorMask<Float> mask) {
        if (mask == null) {
            v.intoArray(dst, off);
        } else {
            v.intoArray(dst, off, mask);
        }
    }
}
