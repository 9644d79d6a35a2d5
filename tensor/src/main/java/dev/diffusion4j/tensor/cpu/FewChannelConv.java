package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Stride-1 convolution with few output channels (at most {@link #MAX_COUT}, e.g. the VAE decoder's conv_out,
 * 128 → 3 at 512×512). As a GEMM such a product pads its M of 3 to the 12 rows of the register tile (4× the work);
 * here the vectors run along the output row instead, with the accumulators of a group of 3 or 4 output channels
 * (12 vectors) in registers while the input channels and taps stream past, each input vector serving every output
 * channel of the group. The work is split in bands of output rows (one task each); a task reads the input rows of
 * its band through {@link ConvRows} (so a fused GroupNorm + SiLU or up-sampling prologue applies) a block of
 * channels at a time into a zero-padded buffer that stays in L2, and accumulates into a per-band buffer.
 */
final class FewChannelConv {
    /** Most output channels this path takes; beyond, the GEMM's register tile is filled well enough. */
    static final int MAX_COUT = 8;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int LANES = S.length();
    /** Output rows per band (fewer when that leaves too few tasks for the threads). */
    private static final int MAX_BAND_ROWS = 16;
    /** Floats of one block of padded input rows (256 KB: stays in L2 next to the accumulators). */
    private static final int BLOCK_FLOATS = 1 << 16;
    private static final ThreadBuffers BUFFERS = new ThreadBuffers(2);

    private FewChannelConv() {
    }

    /** Whether this path takes the convolution: stride 1 and at most {@link #MAX_COUT} output channels. */
    static boolean applies(Tensor weight, int stride) {
        return stride == 1 && weight.rank() == 4 && weight.dim(0) >= 1 && weight.dim(0) <= MAX_COUT;
    }

    /**
     * The stride-1 convolution of {@code rows} by {@code weight} (shapes already checked by the caller), plus
     * {@code bias} and then {@code residual} (null, or a tensor of the output's shape, added last so the result is
     * the same float as a convolution followed by an addition).
     *
     * @param residualIsScratch the result may be written into {@code residual}'s storage
     */
    static Tensor conv2d(ComputePool pool, ConvRows rows, Tensor weight, Tensor bias, int padTop, int padLeft,
                         int hout, int wout, Tensor residual, boolean residualIsScratch) {
        return conv2d(pool, rows, weight, bias, padTop, padLeft, hout, wout, residual, residualIsScratch,
                MAX_BAND_ROWS, BLOCK_FLOATS);
    }

    /** As above with the band and block sizes given (for tests and tuning). */
    static Tensor conv2d(ComputePool pool, ConvRows rows, Tensor weight, Tensor bias, int padTop, int padLeft,
                         int hout, int wout, Tensor residual, boolean residualIsScratch, int maxBandRows,
                         int blockFloats) {
        int n = rows.batch();
        int cin = rows.channels();
        int h = rows.height();
        int w = rows.width();
        int cout = weight.dim(0);
        int kh = weight.dim(2);
        int kw = weight.dim(3);
        int taps = kh * kw;
        // Output channels in groups of 4 or 3; a group of 1-2 left over is padded to 3 with zero weights.
        int[] groupSize = new int[MAX_COUT];
        int count = 0;
        for (int left = cout; left > 0; count++) {
            groupSize[count] = left == 4 || left >= 7 ? 4 : 3;
            left -= Math.min(left, groupSize[count]);
        }
        int groups = count;
        int[] groupStart = new int[groups + 1];
        for (int g = 0; g < groups; g++) {
            groupStart[g + 1] = groupStart[g] + groupSize[g];
        }
        int coutPad = groupStart[groups];
        // Weights per group as [ci][tap][channel of the group]: one tap's weights for the group are adjacent.
        float[] wt = Gemm.toFloats(weight);
        float[] packed = new float[coutPad * cin * taps];
        for (int g = 0; g < groups; g++) {
            int gs = groupSize[g];
            int base = groupStart[g] * cin * taps;
            for (int c = 0; c < gs; c++) {
                int co = groupStart[g] + c;
                if (co >= cout) {
                    continue;
                }
                for (int ci = 0; ci < cin; ci++) {
                    for (int t = 0; t < taps; t++) {
                        packed[base + (ci * taps + t) * gs + c] = wt[(co * cin + ci) * taps + t];
                    }
                }
            }
        }
        float[] biasF = bias == null ? null : Gemm.toFloats(bias);
        int wacc = (wout + LANES - 1) / LANES * LANES;
        // Reads for the last vector of a row reach kw - 1 columns past it: the padded rows are that much wider.
        int wpad = wacc + kw - 1;
        int tasksWanted = 4 * pool.threads();
        int bandRows = Math.max(1, Math.min(Math.min(maxBandRows, hout), (int) ((long) n * hout / tasksWanted)));
        int bands = (hout + bandRows - 1) / bandRows;
        int bandHp = bandRows + kh - 1;
        int blockChannels = Math.max(1, Math.min(cin, blockFloats / (bandHp * wpad)));
        // Offset in the padded block of input channel ci's tap (ky, kx), for output row 0, column 0.
        int[] offs = Conv2d.rowOffsets(blockChannels, kh, kw, bandHp, wpad);
        Tensor out;
        if (residual != null && residualIsScratch && Kernels.ownsStorage(residual)) {
            out = residual;
        } else {
            out = Tensor.empty(n, cout, hout, wout);
        }
        float[] o = out.array();
        int oOff = out.offset();
        Tensor resHeap = residual == null ? null : Kernels.heap(residual);
        float[] res = resHeap == null ? null : resHeap.array();
        int resOff = resHeap == null ? 0 : resHeap.offset();
        int hw = hout * wout;
        pool.parallelFor(n * bands, 1, (t0, t1) -> {
            float[] acc = BUFFERS.get(0, coutPad * bandRows * wacc);
            float[] pad = BUFFERS.get(1, blockChannels * bandHp * wpad);
            for (int t = t0; t < t1; t++) {
                int img = t / bands;
                int oy0 = (t - img * bands) * bandRows;
                int rowsHere = Math.min(bandRows, hout - oy0);
                for (int co = 0; co < coutPad; co++) {
                    Arrays.fill(acc, co * bandRows * wacc, (co + 1) * bandRows * wacc,
                            biasF != null && co < cout ? biasF[co] : 0f);
                }
                for (int cb0 = 0; cb0 < cin; cb0 += blockChannels) {
                    int cbn = Math.min(blockChannels, cin - cb0);
                    fill(rows, img, cb0, cbn, oy0 - padTop, rowsHere + kh - 1, bandHp, pad, wpad, padLeft, w, h);
                    for (int g = 0; g < groups; g++) {
                        int wBase = (groupStart[g] * cin + cb0 * groupSize[g]) * taps;
                        int aBase = groupStart[g] * bandRows * wacc;
                        int chanStride = bandRows * wacc;
                        boolean four = groupSize[g] == 4;
                        // A strip of one register tile's width at a time, its rows one after another: the
                        // input rows a row shares with the next stay in L1.
                        int tile = (four ? 3 : 4) * LANES;
                        int x = 0;
                        for (; x + tile <= wacc; x += tile) {
                            for (int r = 0; r < rowsHere; r++) {
                                if (four) {
                                    tile4(pad, r, wpad, offs, cbn * taps, packed, wBase, acc,
                                            aBase + r * wacc + x, chanStride, x);
                                } else {
                                    tile3(pad, r, wpad, offs, cbn * taps, packed, wBase, acc,
                                            aBase + r * wacc + x, chanStride, x);
                                }
                            }
                        }
                        for (; x < wacc; x += LANES) {
                            for (int r = 0; r < rowsHere; r++) {
                                vector(pad, r, bandHp, wpad, cbn, kh, kw, packed, wBase, groupSize[g], acc,
                                        aBase + r * wacc + x, chanStride, x);
                            }
                        }
                    }
                }
                for (int co = 0; co < cout; co++) {
                    for (int r = 0; r < rowsHere; r++) {
                        int src = (co * bandRows + r) * wacc;
                        int dst = (img * cout + co) * hw + (oy0 + r) * wout;
                        if (res == null) {
                            System.arraycopy(acc, src, o, oOff + dst, wout);
                        } else {
                            addRow(acc, src, res, resOff + dst, o, oOff + dst, wout);
                        }
                    }
                }
            }
        });
        return out;
    }

    /** {@code o[d…] = acc[s…] + res[ro…]} over {@code len} floats. */
    private static void addRow(float[] acc, int s, float[] res, int ro, float[] o, int d, int len) {
        int x = 0;
        for (int end = S.loopBound(len); x < end; x += LANES) {
            FloatVector.fromArray(S, acc, s + x).add(FloatVector.fromArray(S, res, ro + x)).intoArray(o, d + x);
        }
        for (; x < len; x++) {
            o[d + x] = acc[s + x] + res[ro + x];
        }
    }

    /**
     * Writes rows {@code y0 …} ({@code rowsNeeded} of them) of channels {@code c0 … c0 + count - 1} into the padded
     * buffer ({@code bandHp × wpad} per channel, the row at column {@code padLeft}); rows outside the input and the
     * columns left and right of it are zeros (written every time: the buffer is shared by every call of the thread).
     */
    private static void fill(ConvRows rows, int img, int c0, int count, int y0, int rowsNeeded, int bandHp,
                             float[] pad, int wpad, int padLeft, int w, int h) {
        for (int c = 0; c < count; c++) {
            for (int r = 0; r < rowsNeeded; r++) {
                int y = y0 + r;
                int o = (c * bandHp + r) * wpad;
                if (y < 0 || y >= h) {
                    Arrays.fill(pad, o, o + wpad, 0f);
                } else {
                    Arrays.fill(pad, o, o + padLeft, 0f);
                    rows.row(img, c0 + c, y, pad, o + padLeft);
                    Arrays.fill(pad, o + padLeft + w, o + wpad, 0f);
                }
            }
        }
    }

    /**
     * Adds one block of input channels' contribution to 4 vectors of output row {@code r} (from column {@code x})
     * of a group of 3 output channels (12 accumulators). {@code w} holds the group's weights as [ci][tap][3] from
     * {@code wBase}; the accumulators of channel c are at {@code acc[a + c·chanStride …]}.
     */
    private static void tile3(float[] pad, int r, int wpad, int[] offs, int steps, float[] w,
                              int wBase, float[] acc, int a, int chanStride, int x) {
        int a1 = a + chanStride;
        int a2 = a1 + chanStride;
        FloatVector s00 = FloatVector.fromArray(S, acc, a);
        FloatVector s01 = FloatVector.fromArray(S, acc, a + LANES);
        FloatVector s02 = FloatVector.fromArray(S, acc, a + 2 * LANES);
        FloatVector s03 = FloatVector.fromArray(S, acc, a + 3 * LANES);
        FloatVector s10 = FloatVector.fromArray(S, acc, a1);
        FloatVector s11 = FloatVector.fromArray(S, acc, a1 + LANES);
        FloatVector s12 = FloatVector.fromArray(S, acc, a1 + 2 * LANES);
        FloatVector s13 = FloatVector.fromArray(S, acc, a1 + 3 * LANES);
        FloatVector s20 = FloatVector.fromArray(S, acc, a2);
        FloatVector s21 = FloatVector.fromArray(S, acc, a2 + LANES);
        FloatVector s22 = FloatVector.fromArray(S, acc, a2 + 2 * LANES);
        FloatVector s23 = FloatVector.fromArray(S, acc, a2 + 3 * LANES);
        int wi = wBase;
        int base = r * wpad + x;
        for (int t = 0; t < steps; t++, wi += 3) {
            int p = offs[t] + base;
            FloatVector i0 = FloatVector.fromArray(S, pad, p);
            FloatVector i1 = FloatVector.fromArray(S, pad, p + LANES);
            FloatVector i2 = FloatVector.fromArray(S, pad, p + 2 * LANES);
            FloatVector i3 = FloatVector.fromArray(S, pad, p + 3 * LANES);
            FloatVector w0 = FloatVector.broadcast(S, w[wi]);
            s00 = i0.fma(w0, s00);
            s01 = i1.fma(w0, s01);
            s02 = i2.fma(w0, s02);
            s03 = i3.fma(w0, s03);
            FloatVector w1 = FloatVector.broadcast(S, w[wi + 1]);
            s10 = i0.fma(w1, s10);
            s11 = i1.fma(w1, s11);
            s12 = i2.fma(w1, s12);
            s13 = i3.fma(w1, s13);
            FloatVector w2 = FloatVector.broadcast(S, w[wi + 2]);
            s20 = i0.fma(w2, s20);
            s21 = i1.fma(w2, s21);
            s22 = i2.fma(w2, s22);
            s23 = i3.fma(w2, s23);
        }
        s00.intoArray(acc, a);
        s01.intoArray(acc, a + LANES);
        s02.intoArray(acc, a + 2 * LANES);
        s03.intoArray(acc, a + 3 * LANES);
        s10.intoArray(acc, a1);
        s11.intoArray(acc, a1 + LANES);
        s12.intoArray(acc, a1 + 2 * LANES);
        s13.intoArray(acc, a1 + 3 * LANES);
        s20.intoArray(acc, a2);
        s21.intoArray(acc, a2 + LANES);
        s22.intoArray(acc, a2 + 2 * LANES);
        s23.intoArray(acc, a2 + 3 * LANES);
    }

    /** As {@link #tile3} for a group of 4 output channels: 3 vectors (12 accumulators). */
    private static void tile4(float[] pad, int r, int wpad, int[] offs, int steps, float[] w,
                              int wBase, float[] acc, int a, int chanStride, int x) {
        int a1 = a + chanStride;
        int a2 = a1 + chanStride;
        int a3 = a2 + chanStride;
        FloatVector s00 = FloatVector.fromArray(S, acc, a);
        FloatVector s01 = FloatVector.fromArray(S, acc, a + LANES);
        FloatVector s02 = FloatVector.fromArray(S, acc, a + 2 * LANES);
        FloatVector s10 = FloatVector.fromArray(S, acc, a1);
        FloatVector s11 = FloatVector.fromArray(S, acc, a1 + LANES);
        FloatVector s12 = FloatVector.fromArray(S, acc, a1 + 2 * LANES);
        FloatVector s20 = FloatVector.fromArray(S, acc, a2);
        FloatVector s21 = FloatVector.fromArray(S, acc, a2 + LANES);
        FloatVector s22 = FloatVector.fromArray(S, acc, a2 + 2 * LANES);
        FloatVector s30 = FloatVector.fromArray(S, acc, a3);
        FloatVector s31 = FloatVector.fromArray(S, acc, a3 + LANES);
        FloatVector s32 = FloatVector.fromArray(S, acc, a3 + 2 * LANES);
        int wi = wBase;
        int base = r * wpad + x;
        for (int t = 0; t < steps; t++, wi += 4) {
            int p = offs[t] + base;
            FloatVector i0 = FloatVector.fromArray(S, pad, p);
            FloatVector i1 = FloatVector.fromArray(S, pad, p + LANES);
            FloatVector i2 = FloatVector.fromArray(S, pad, p + 2 * LANES);
            FloatVector w0 = FloatVector.broadcast(S, w[wi]);
            s00 = i0.fma(w0, s00);
            s01 = i1.fma(w0, s01);
            s02 = i2.fma(w0, s02);
            FloatVector w1 = FloatVector.broadcast(S, w[wi + 1]);
            s10 = i0.fma(w1, s10);
            s11 = i1.fma(w1, s11);
            s12 = i2.fma(w1, s12);
            FloatVector w2 = FloatVector.broadcast(S, w[wi + 2]);
            s20 = i0.fma(w2, s20);
            s21 = i1.fma(w2, s21);
            s22 = i2.fma(w2, s22);
            FloatVector w3 = FloatVector.broadcast(S, w[wi + 3]);
            s30 = i0.fma(w3, s30);
            s31 = i1.fma(w3, s31);
            s32 = i2.fma(w3, s32);
        }
        s00.intoArray(acc, a);
        s01.intoArray(acc, a + LANES);
        s02.intoArray(acc, a + 2 * LANES);
        s10.intoArray(acc, a1);
        s11.intoArray(acc, a1 + LANES);
        s12.intoArray(acc, a1 + 2 * LANES);
        s20.intoArray(acc, a2);
        s21.intoArray(acc, a2 + LANES);
        s22.intoArray(acc, a2 + 2 * LANES);
        s30.intoArray(acc, a3);
        s31.intoArray(acc, a3 + LANES);
        s32.intoArray(acc, a3 + 2 * LANES);
    }

    /** One vector of output row {@code r} for a group of {@code gs} channels (the row's tail after the tiles). */
    private static void vector(float[] pad, int r, int bandHp, int wpad, int cbn, int kh, int kw, float[] w,
                               int wBase, int gs, float[] acc, int a, int chanStride, int x) {
        for (int c = 0; c < gs; c++) {
            FloatVector s = FloatVector.fromArray(S, acc, a + c * chanStride);
            int wi = wBase + c;
            for (int ci = 0; ci < cbn; ci++) {
                for (int ky = 0; ky < kh; ky++) {
                    int row = (ci * bandHp + r + ky) * wpad + x;
                    for (int kx = 0; kx < kw; kx++, wi += gs) {
                        s = FloatVector.fromArray(S, pad, row + kx).fma(FloatVector.broadcast(S, w[wi]), s);
                    }
                }
            }
            s.intoArray(acc, a + c * chanStride);
        }
    }
}
