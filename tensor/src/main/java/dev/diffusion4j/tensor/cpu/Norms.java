package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Normalisations and softmax. Statistics are two-pass (the mean of the values shifted by the first one,
 * then the mean of squared deviations from it) with float vector partial sums flushed into a double every
 * {@link #BLOCK} elements, so neither a large mean nor a long reduction loses precision; the part of the
 * mean a float cannot hold is carried separately into the output. The variance is the biased one (divide
 * by the count), as in PyTorch. Lane sums use a fixed order, so results never depend on the thread count
 * or on JIT state.
 */
public final class Norms {
    private static final VectorSpecies<Float> S = VectorFunctions.SPECIES;
    /** Elements summed in float (a few per lane) before the partial sum is added to a double. */
    private static final int BLOCK = 256;
    /** Elements per parallel chunk of row-wise ops. */
    private static final int GRAIN = 1 << 14;

    private Norms() {
    }

    /** See {@link dev.diffusion4j.tensor.Backend#groupNorm}. */
    public static Tensor groupNorm(ComputePool pool, Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu) {
        float[][] coef = groupNormCoefficients(pool, x, groups, gamma, beta, eps);
        Tensor in = Kernels.heap(x);
        Tensor out = Tensor.empty(in.shape());
        int hw = Kernels.toInt(in.shape().product(2, in.rank()), "groupNorm", in);
        int planes = in.dim(0) * in.dim(1);
        if (hw == 0 || planes == 0) {
            return out;
        }
        float[] src = in.array();
        int so = in.offset();
        float[] dst = out.array();
        int dOff = out.offset();
        pool.parallelFor(planes, Math.max(1, GRAIN / hw), (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                normalize(src, so + p * hw, dst, dOff + p * hw, hw, coef[0][p], coef[1][p], coef[2][p], silu);
            }
        });
        return out;
    }

    /**
     * The per-channel form of a group normalisation, for a kernel that applies it on the fly (a convolution's
     * prologue): {@code y[n, c, …] = (x[n, c, …] - mean[n·C + c])·scale[n·C + c] + shift[n·C + c]}, then SiLU if
     * asked. Applied with {@link #normalizeRow} it gives exactly what {@link #groupNorm} gives.
     *
     * @return {@code {mean, scale, shift}}, each of length N·C
     */
    static float[][] groupNormCoefficients(ComputePool pool, Tensor x, int groups, Tensor gamma, Tensor beta, float eps) {
        return groupNormCoefficients(pool, x, null, groups, gamma, beta, eps);
    }

    /**
     * As {@link #groupNormCoefficients(ComputePool, Tensor, int, Tensor, Tensor, float)}, of {@code x + addend} when
     * {@code addend} (length N·C: one value per image and channel, added to all its pixels) is not null; applied to x
     * itself they give the normalisation of the sum, which is never stored.
     */
    static float[][] groupNormCoefficients(ComputePool pool, Tensor x, float[] addend, int groups, Tensor gamma,
                                           Tensor beta, float eps) {
        Kernels.requireNonNull("groupNorm", "x", x);
        if (x.rank() < 2) {
            throw new IllegalArgumentException("groupNorm: input must be [N, C, ...], got " + x.shape());
        }
        int n = x.dim(0);
        int c = x.dim(1);
        if (groups <= 0 || c % groups != 0) {
            throw new IllegalArgumentException("groupNorm: groups=" + groups + " must be positive and divide C=" + c
                    + " of input " + x.shape());
        }
        if (addend != null && addend.length != n * c) {
            throw new IllegalArgumentException("groupNorm: addend of " + addend.length + " values for " + n
                    + " images of " + c + " channels of input " + x.shape());
        }
        float[] g = Kernels.param("groupNorm", "gamma", gamma, c, x);
        float[] b = Kernels.param("groupNorm", "beta", beta, c, x);
        Tensor in = Kernels.heap(x);
        int hw = Kernels.toInt(in.shape().product(2, in.rank()), "groupNorm", in);
        int cpg = c / groups;
        int len = Kernels.toInt((long) cpg * hw, "groupNorm", in);
        float[][] coef = new float[3][n * c];
        if (len == 0) {
            return coef;
        }
        float[] src = in.array();
        int so = in.offset();
        pool.parallelFor(n * groups, 1, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                int base = t * len;
                if (addend != null) {
                    shiftedGroup(src, so + base, hw, cpg, addend, t / groups * c + t % groups * cpg, eps, g, b,
                            t % groups * cpg, coef);
                    continue;
                }
                double mean = mean(src, so + base, len);
                float meanF = (float) mean;
                double var = sumSquaredDeviation(src, so + base, len, meanF) / len;
                double d = meanF - mean;
                // the float mean differs from the double one; correct the variance for it (tiny, but free)
                var = Math.max(0, var - d * d);
                double rstd = 1 / Math.sqrt(var + eps);
                int c0 = (t % groups) * cpg;
                for (int ch = 0; ch < cpg; ch++) {
                    double scaleD = g == null ? rstd : g[c0 + ch] * rstd;
                    int i = (t / groups) * c + c0 + ch;
                    coef[0][i] = meanF;
                    coef[1][i] = (float) scaleD;
                    // x - mean is exact near the mean; the rest of the mean (mean - meanF) goes into the shift,
                    // so a mean much larger than the spread costs no precision
                    coef[2][i] = (float) ((b == null ? 0 : b[c0 + ch]) + d * scaleD);
                }
            }
        });
        return coef;
    }

    /**
     * One group's coefficients for {@code x + addend[a0 + ch]} (channel ch of the group: {@code hw} values from
     * {@code off + ch·hw}). The sum's deviations are the channel's values less its own centre {@code mean - addend},
     * so they are summed per channel; that centre, rounded to float, is the channel's "mean" coefficient, and what
     * the rounding left out goes into the shift and the variance as in the plain group.
     */
    private static void shiftedGroup(float[] src, int off, int hw, int cpg, float[] addend, int a0, float eps,
                                     float[] g, float[] b, int c0, float[][] coef) {
        double[] channelMean = new double[cpg];
        double mean = 0;
        for (int ch = 0; ch < cpg; ch++) {
            channelMean[ch] = mean(src, off + ch * hw, hw);
            mean += channelMean[ch] + addend[a0 + ch];
        }
        mean /= cpg;
        double sum = 0;
        float[] centre = new float[cpg];
        for (int ch = 0; ch < cpg; ch++) {
            double exact = mean - addend[a0 + ch];
            centre[ch] = (float) exact;
            double d = centre[ch] - exact;
            // Σ (x - exact)² = Σ ((x - centre) + d)²
            sum += sumSquaredDeviation(src, off + ch * hw, hw, centre[ch])
                    + 2 * d * hw * (channelMean[ch] - centre[ch]) + hw * d * d;
        }
        double var = Math.max(0, sum / ((double) cpg * hw));
        double rstd = 1 / Math.sqrt(var + eps);
        for (int ch = 0; ch < cpg; ch++) {
            double scaleD = g == null ? rstd : g[c0 + ch] * rstd;
            int i = a0 + ch;
            coef[0][i] = centre[ch];
            coef[1][i] = (float) scaleD;
            coef[2][i] = (float) ((b == null ? 0 : b[c0 + ch]) + (centre[ch] - (mean - addend[i])) * scaleD);
        }
    }

    /** {@code dst = (src - mean)·scale + shift}, then SiLU if asked, over {@code n} elements (see {@link #groupNormCoefficients}). */
    static void normalizeRow(float[] src, int so, float[] dst, int d0, int n, float mean, float scale, float shift, boolean silu) {
        normalize(src, so, dst, d0, n, mean, scale, shift, silu);
    }

    /** See {@link dev.diffusion4j.tensor.Backend#layerNorm}. */
    public static Tensor layerNorm(ComputePool pool, Tensor x, Tensor gamma, Tensor beta, float eps) {
        Kernels.requireNonNull("layerNorm", "x", x);
        if (x.rank() < 1) {
            throw new IllegalArgumentException("layerNorm: input must have rank >= 1, got " + x.shape());
        }
        int d = x.dim(-1);
        float[] g = Kernels.param("layerNorm", "gamma", gamma, d, x);
        float[] b = Kernels.param("layerNorm", "beta", beta, d, x);
        Tensor in = Kernels.heap(x);
        Tensor out = Tensor.empty(in.shape());
        if (d == 0 || in.numel() == 0) {
            return out;
        }
        int rows = Kernels.toInt(in.numel() / d, "layerNorm", in);
        float[] src = in.array();
        int so = in.offset();
        float[] dst = out.array();
        int dOff = out.offset();
        float[] ones = g == null ? filled(d, 1f) : g;
        float[] zeros = b == null ? new float[d] : b;
        pool.parallelFor(rows, Math.max(1, GRAIN / d), (r0, r1) -> {
            float[] stats = new float[3];
            for (int r = r0; r < r1; r++) {
                int off = r * d;
                rowStats(src, so + off, d, eps, stats, 0);
                affine(src, so + off, dst, dOff + off, d, stats[0], stats[1], stats[2], ones, zeros, 0);
            }
        });
        return out;
    }

    /**
     * Layer-normalisation statistics of {@code rows} rows of {@code d} values from {@code src[so]}, as
     * {@link #layerNorm} computes them: per row r, {@code stats[3r]} the mean as a float, {@code stats[3r + 1]} the rest
     * of the mean (see the class comment), {@code stats[3r + 2]} the reciprocal standard deviation.
     */
    static float[] layerNormStats(ComputePool pool, float[] src, int so, int rows, int d, float eps) {
        float[] stats = new float[3 * rows];
        pool.parallelFor(rows, Math.max(1, GRAIN / Math.max(1, d)), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                rowStats(src, so + r * d, d, eps, stats, 3 * r);
            }
        });
        return stats;
    }

    /**
     * {@code dst[d0 + i] = ((src[so + i] - mean) - meanLo)·(gamma[g0 + i]·rstd) + beta[g0 + i]} for {@code i < n}: a run of
     * one row of {@link #layerNorm}'s output (columns g0 … g0 + n), the very values it stores, with the row's
     * {@link #layerNormStats}.
     */
    static void layerNormRun(float[] src, int so, float[] dst, int d0, int n, float mean, float meanLo, float rstd,
                             float[] gamma, float[] beta, int g0) {
        affine(src, so, dst, d0, n, mean, meanLo, rstd, gamma, beta, g0);
    }

    private static void rowStats(float[] src, int off, int d, float eps, float[] stats, int at) {
        double mean = mean(src, off, d);
        float meanF = (float) mean;
        double var = sumSquaredDeviation(src, off, d, meanF) / d;
        double dm = meanF - mean;
        var = Math.max(0, var - dm * dm);
        stats[at] = meanF;
        stats[at + 1] = (float) (mean - meanF);
        stats[at + 2] = (float) (1 / Math.sqrt(var + eps));
    }

    /** See {@link dev.diffusion4j.tensor.Backend#softmax}. */
    public static Tensor softmax(ComputePool pool, Tensor x) {
        Kernels.requireNonNull("softmax", "x", x);
        if (x.rank() < 1) {
            throw new IllegalArgumentException("softmax: input must have rank >= 1, got " + x.shape());
        }
        Tensor in = Kernels.heap(x);
        Tensor out = Tensor.empty(in.shape());
        int d = in.dim(-1);
        if (d == 0 || in.numel() == 0) {
            return out;
        }
        int rows = Kernels.toInt(in.numel() / d, "softmax", in);
        float[] src = in.array();
        int so = in.offset();
        float[] dst = out.array();
        int dOff = out.offset();
        pool.parallelFor(rows, Math.max(1, GRAIN / d), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                softmaxRow(src, so + r * d, dst, dOff + r * d, d);
            }
        });
        return out;
    }

    /** Numerically stable softmax of one row: subtract the max, exponentiate, divide by the (double) sum. */
    static void softmaxRow(float[] src, int so, float[] dst, int d0, int n) {
        int step = S.length();
        int full = n - n % step;
        FloatVector mx = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (int i = 0; i < full; i += step) {
            mx = mx.max(FloatVector.fromArray(S, src, so + i));
        }
        float max = mx.reduceLanes(VectorOperators.MAX);
        for (int i = full; i < n; i++) {
            max = Math.max(max, src[so + i]);
        }
        double total = 0;
        for (int block = 0; block < full; block += BLOCK) {
            int end = Math.min(full, block + BLOCK);
            FloatVector acc = FloatVector.zero(S);
            for (int i = block; i < end; i += step) {
                FloatVector e = VectorFunctions.exp(FloatVector.fromArray(S, src, so + i).sub(max));
                e.intoArray(dst, d0 + i);
                acc = acc.add(e);
            }
            total += sumLanes(acc);
        }
        if (full < n) {
            VectorMask<Float> m = S.indexInRange(full, n);
            FloatVector e = VectorFunctions.exp(FloatVector.fromArray(S, src, so + full, m).sub(max)).blend(0f, m.not());
            e.intoArray(dst, d0 + full, m);
            total += sumLanes(e);
        }
        float inv = (float) (1 / total);
        int i = 0;
        for (; i < full; i += step) {
            FloatVector.fromArray(S, dst, d0 + i).mul(inv).intoArray(dst, d0 + i);
        }
        for (; i < n; i++) {
            dst[d0 + i] *= inv;
        }
    }

    /**
     * Mean of {@code a[off, off + n)} (n > 0). Sums the deviations from the first element (shifted data),
     * so float rounding scales with the spread of the values, not their magnitude; float partial sums
     * are flushed into a double every BLOCK elements.
     */
    static double mean(float[] a, int off, int n) {
        float shift = a[off];
        int step = S.length();
        double total = 0;
        for (int block = 0; block < n; block += BLOCK) {
            int end = Math.min(n, block + BLOCK);
            FloatVector acc = FloatVector.zero(S);
            int i = block;
            for (; i <= end - step; i += step) {
                acc = acc.add(FloatVector.fromArray(S, a, off + i).sub(shift));
            }
            if (i < end) {
                VectorMask<Float> m = S.indexInRange(i, end);
                acc = acc.add(FloatVector.fromArray(S, a, off + i, m).sub(shift).blend(0f, m.not()));
            }
            total += sumLanes(acc);
        }
        return shift + total / n;
    }

    /** Sum of {@code (a[i] - mean)²} over {@code a[off, off + n)}, flushed into a double like {@link #mean}. */
    static double sumSquaredDeviation(float[] a, int off, int n, float mean) {
        int step = S.length();
        double total = 0;
        for (int block = 0; block < n; block += BLOCK) {
            int end = Math.min(n, block + BLOCK);
            FloatVector acc = FloatVector.zero(S);
            int i = block;
            for (; i <= end - step; i += step) {
                FloatVector dv = FloatVector.fromArray(S, a, off + i).sub(mean);
                acc = dv.fma(dv, acc);
            }
            if (i < end) {
                VectorMask<Float> m = S.indexInRange(i, end);
                FloatVector dv = FloatVector.fromArray(S, a, off + i, m).sub(mean).blend(0f, m.not());
                acc = dv.fma(dv, acc);
            }
            total += sumLanes(acc);
        }
        return total;
    }

    /** {@code dst = (src - mean)·scale + shift}, then SiLU if asked, over one channel of GroupNorm. */
    private static void normalize(float[] src, int so, float[] dst, int d0, int n,
                                  float mean, float scale, float shift, boolean silu) {
        int full = n - n % S.length();
        // Whole vectors and the masked tail in methods of their own: with both loops in one, C2 ran out of nodes for
        // the second SiLU (NodeCountInliningCutoff) and boxed its vectors (rows of 8 of the U-Net's 8×8 maps are all
        // tail: 130 MB of garbage per step).
        if (silu) {
            normalizeSilu(src, so, dst, d0, 0, full, mean, scale, shift);
            if (full < n) {
                normalizeSiluTail(src, so, dst, d0, full, n, mean, scale, shift);
            }
        } else {
            int step = S.length();
            FloatVector mv = FloatVector.broadcast(S, mean);
            FloatVector sc = FloatVector.broadcast(S, scale);
            FloatVector sh = FloatVector.broadcast(S, shift);
            for (int i = 0; i < full; i += step) {
                FloatVector.fromArray(S, src, so + i).sub(mv).fma(sc, sh).intoArray(dst, d0 + i);
            }
            for (int i = full; i < n; i += step) {
                VectorMask<Float> m = S.indexInRange(i, n);
                FloatVector.fromArray(S, src, so + i, m).sub(mv).fma(sc, sh).intoArray(dst, d0 + i, m);
            }
        }
    }

    /** SiLU((src - mean)·scale + shift) over elements {@code [from, to)}, whole vectors. */
    private static void normalizeSilu(float[] src, int so, float[] dst, int d0, int from, int to,
                                      float mean, float scale, float shift) {
        FloatVector mv = FloatVector.broadcast(S, mean);
        FloatVector sc = FloatVector.broadcast(S, scale);
        FloatVector sh = FloatVector.broadcast(S, shift);
        for (int i = from; i < to; i += S.length()) {
            FloatVector y = FloatVector.fromArray(S, src, so + i).sub(mv).fma(sc, sh);
            VectorFunctions.mulSigmoid(y, 1f).intoArray(dst, d0 + i);
        }
    }

    /** As {@link #normalizeSilu} over {@code [from, to)} with masks (the part short of a whole vector). */
    private static void normalizeSiluTail(float[] src, int so, float[] dst, int d0, int from, int to,
                                          float mean, float scale, float shift) {
        for (int i = from; i < to; i += S.length()) {
            VectorMask<Float> m = S.indexInRange(i, to);
            FloatVector y = FloatVector.fromArray(S, src, so + i, m).sub(mean).fma(scale, shift);
            VectorFunctions.mulSigmoid(y, 1f).intoArray(dst, d0 + i, m);
        }
    }

    /**
     * {@code dst = (src - mean - meanLo)·rstd·gamma + beta} over one LayerNorm row; {@code mean + meanLo}
     * is the row mean to about double precision ({@code src - mean} is exact near the mean).
     */
    private static void affine(float[] src, int so, float[] dst, int d0, int n,
                               float mean, float meanLo, float rstd, float[] gamma, float[] beta, int g0) {
        int step = S.length();
        int full = n - n % step;
        FloatVector mv = FloatVector.broadcast(S, mean);
        FloatVector lo = FloatVector.broadcast(S, meanLo);
        int i = 0;
        for (; i < full; i += step) {
            FloatVector g = FloatVector.fromArray(S, gamma, g0 + i).mul(rstd);
            FloatVector b = FloatVector.fromArray(S, beta, g0 + i);
            FloatVector.fromArray(S, src, so + i).sub(mv).sub(lo).fma(g, b).intoArray(dst, d0 + i);
        }
        for (; i < n; i++) {
            dst[d0 + i] = Math.fma((src[so + i] - mean) - meanLo, gamma[g0 + i] * rstd, beta[g0 + i]);
        }
    }

    // Rotations by 8, 4, 2, 1 lanes (null where the species is too short): a fixed pairwise-add tree.
    private static final VectorShuffle<Float> ROT8 = rotation(8);
    private static final VectorShuffle<Float> ROT4 = rotation(4);
    private static final VectorShuffle<Float> ROT2 = rotation(2);
    private static final VectorShuffle<Float> ROT1 = rotation(1);

    private static VectorShuffle<Float> rotation(int k) {
        return k < S.length() ? VectorShuffle.iota(S, k, 1, true) : null;
    }

    /**
     * The sum of the lanes of {@code v} in a fixed order (a pairwise tree of rotations). Not
     * {@code reduceLanes(ADD)}: its order is unspecified and differs between the intrinsic and the
     * interpreted fallback, which made results depend on JIT state (1 ulp, but not reproducible).
     */
    static double sumLanes(FloatVector v) {
        int l = S.length();
        if (l > 16) {
            double s = 0;
            for (int i = 0; i < l; i++) {
                s += v.lane(i);
            }
            return s;
        }
        // the length tests fold to constants: only the rotations this species needs remain
        if (l == 16) {
            v = v.add(v.rearrange(ROT8));
        }
        if (l >= 8) {
            v = v.add(v.rearrange(ROT4));
        }
        if (l >= 4) {
            v = v.add(v.rearrange(ROT2));
        }
        if (l >= 2) {
            v = v.add(v.rearrange(ROT1));
        }
        return v.lane(0);
    }

    static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }
}
