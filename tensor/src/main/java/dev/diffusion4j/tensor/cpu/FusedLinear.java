package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ArrayAlignment;
import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.HalfFloats;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import java.util.function.IntFunction;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Linear layers whose last step runs inside the GEMM: bias and residual added, several layers of one input
 * (to_q, to_k, to_v) computed as one product, GEGLU applied to the two halves of the feed-forward projection
 * while they are in cache. The wide intermediate of a GEGLU projection is never stored.
 *
 * <p>The driver ({@link #gemm}) uses {@link Gemm}'s blocking and micro-kernel. C is summed over the K blocks
 * in a per-thread strip (one block of rows × the task's columns, in L2) and, after the last K block, handed to an
 * {@link Epilogue} one group of panels at a time, which writes the layer's output from it; no C the size of the
 * product is ever allocated. The weight (B, usually F16) is converted and packed once per call: into a buffer all
 * threads share when they split the rows, or by each task for its own columns when the rows need no split (A, the
 * activations, then packed once for all tasks), K block by K block into L2 when there are few rows.
 */
public final class FusedLinear {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** A panel's MR = 12 values as 8 + 4 (see {@link #normalizedPixels}). */
    private static final VectorSpecies<Float> S8 = FloatVector.SPECIES_256;
    private static final VectorSpecies<Float> S4 = FloatVector.SPECIES_128;
    private static final int V = S.length();
    private static final int MR = Gemm.MR;
    private static final int NR = Gemm.NR;
    private static final int KC = Gemm.KC;
    private static final int MC = Gemm.MC;
    private static final int NC = Gemm.NC;
    /** Where packed B starts in its buffer: on a cache line when the JVM aligns objects (see ArrayAlignment). */
    private static final int OFF = ArrayAlignment.FLOAT_OFFSET;
    /** Floats of one chunk of packed B (all of K for a chunk's columns, 8 MiB); chunks are narrower for deep K. */
    private static final long CHUNK_B = 2 << 20;
    /** Rows up to which {@link #linear} takes dot products instead of a GEMM ({@link #fewRows}). */
    private static final int FEW_ROWS = 4;
    /**
     * Most pixels of an image whose batch a 1×1 convolution takes as one product (see {@link #conv1x1}): the U-Net's
     * 8×8 shortcuts (2560 → 1280, two images; {@code GemmTiming c1x1:128x2560x1280}, 2 threads, three alternating runs:
     * 4.7–5.0 → 3.9–4.2 ms). At 16×16 (256 pixels) the images' own products were as fast or faster.
     */
    static final int BATCHED_PIXELS = 64;
    /** Rows up to which a call split over columns runs K block by K block ({@link #taskKOuter}). */
    private static final int K_OUTER_ROWS = 4 * MC;
    /** Floats of a strip of C and a packed K block of B that stay in L2 (1.5 MiB of 2) together. */
    private static final int L2_FLOATS = 384 << 10;
    /** Floats of A packed once for a whole call (16 MiB) when it would otherwise be packed once per column tile. */
    private static final long SHARED_A = 4 << 20;

    /**
     * Per-thread buffers: packed B chunk (the calling thread's, shared), packed A block, strip of C, edge tile,
     * all of A packed (the calling thread's, shared).
     */
    private static final ThreadBuffers BUFFERS = new ThreadBuffers(5);

    private FusedLinear() {
    }

    /**
     * Receives finished blocks of {@code C = A·B} (no bias): rows {@code [i0, i0 + rows)} and columns
     * {@code [j0, j0 + cols)}, element {@code (i, j)} at {@code cs[csOff + (i - i0)·ldcs + (j - j0)]}. Blocks
     * do not overlap and cover C once; they may arrive on any pool thread, in any order.
     */
    @FunctionalInterface
    public interface Epilogue {
        void apply(int i0, int rows, int j0, int cols, float[] cs, int csOff, int ldcs);
    }

    /**
     * Where C goes when nothing is to be added to it (the product is the output): element {@code (i, j)} at
     * {@code array(j)[offset(i, j)]}, rows {@code ld(j)} apart; the same array, stride and a contiguous run
     * of columns for every panel of {@link Gemm#NR} columns. The kernel then writes (and accumulates over the
     * K blocks) in place, as {@link Gemm#gemm} does.
     */
    interface Direct {
        float[] array(int j);

        int offset(int i, int j);

        int ld(int j);

        /**
         * Called once for every finished block of C (rows {@code [i0, i0 + rows)}, columns {@code [j0, j0 + cols)}
         * within one panel of {@link Gemm#NR}) right after its last K block was written in place, while it is in L1:
         * e.g. to add a bias and a residual there instead of through a strip of C.
         */
        default void finish(int i0, int rows, int j0, int cols) {
        }

        /**
         * Whether C already holds values the product is added to (a residual whose storage the output reuses): then
         * the first K block accumulates too, and with no K at all C is left as it is.
         */
        default boolean accumulates() {
            return false;
        }
    }

    /** Packs B like {@link Gemm.PackB#pack}, from {@code dst[dOff]} on. */
    @FunctionalInterface
    interface PackBAt {
        void pack(int k0, int kc, int j0, int nc, float[] dst, int dOff);
    }

    // ---------------------------------------------------------------------------------------------
    // Tensor-level entries

    /**
     * {@code y = x · weightᵀ + bias + residual}: x {@code [..., in]}, weight {@code [out, in]}, bias
     * {@code [out]} or null, residual null or of the output's shape {@code [..., out]}.
     */
    public static Tensor linear(ComputePool pool, Tensor x, Tensor weight, Tensor bias, Tensor residual) {
        return linear(pool, x, weight, bias, residual, false);
    }

    /**
     * As {@link #linear(ComputePool, Tensor, Tensor, Tensor, Tensor)}; with {@code residualIsScratch} (the caller never
     * reads {@code residual} again) the output may be written into the residual's storage when it is a whole heap
     * array other than x's ({@link Kernels#reusesResidual}): the product is then added onto it in place, so C's lines are read (the residual) and written once instead
     * of the residual read and a fresh output written besides.
     */
    public static Tensor linear(ComputePool pool, Tensor x, Tensor weight, Tensor bias, Tensor residual,
                                boolean residualIsScratch) {
        int rows = checkLinear("linear", x, weight, bias);
        int out = weight.dim(0);
        int[] dims = outDims(x, out);
        if (residual != null && !residual.shape().equals(Shape.of(dims))) {
            throw new IllegalArgumentException("linear: residual " + residual.shape() + " does not match the output "
                    + Shape.of(dims) + " of x " + x.shape() + " and weight " + weight.shape());
        }
        // Onto the residual in its own storage: C accumulates from it, and only the bias is added after.
        boolean inPlace = rows > FEW_ROWS && Kernels.reusesResidual(residual, residualIsScratch, x);
        Tensor y = inPlace ? residual.reshape(dims) : Tensor.empty(dims);
        Tensor res = residual == null || inPlace ? null : Kernels.heap(residual);
        float[] b = bias == null ? null : Gemm.toFloats(bias);
        float[] ya = y.array();
        int yo = y.offset();
        float[] ra = res == null ? null : res.array();
        int ro = res == null ? 0 : res.offset();
        pool = Gemm.poolFor(pool, x, weight);
        if (rows <= FEW_ROWS) {
            fewRows(pool, rows, Kernels.heap(x), weight, b, ra, ro, ya, yo);
            return y;
        }
        // C in place; bias and residual added to each finished register tile while it is in L1 (through a strip of C
        // instead, written and read once more: 8-10 % slower at 8192 × 320 → 2560).
        gemm(pool, rows, out, weight.dim(1), Gemm.viewA(x, 0, weight.dim(1), 1), weightB(weight), 1, null,
                new RowMajorC(ya, yo, out, b, ra, ro, inPlace));
        return y;
    }

    /**
     * C in place in a row-major {@code [rows, out]} array from {@code yo} on, bias and residual (either may be null)
     * added to each finished tile; with {@code accumulates}, C already holds the residual and the product is added to it.
     */
    private record RowMajorC(float[] y, int yo, int out, float[] bias, float[] res, int ro, boolean accumulates)
            implements Direct {
        @Override
        public float[] array(int j) {
            return y;
        }

        @Override
        public int offset(int i, int j) {
            return yo + i * out + j;
        }

        @Override
        public int ld(int j) {
            return out;
        }

        @Override
        public void finish(int i0, int mr, int j0, int nc) {
            if (bias != null || res != null) {
                int at = yo + i0 * out + j0;
                store(y, at, out, mr, nc, bias, j0, res, ro + i0 * out + j0, out, y, at, out);
            }
        }
    }

    /**
     * Several linear layers of one input, e.g. {@code to_q}, {@code to_k}, {@code to_v}: x {@code [..., in]},
     * weights {@code [out_p, in]}, biases {@code [out_p]} (the array or its elements may be null). Returns
     * {@code [..., out_p]} per layer, computed as one product over the concatenated weights (x packed once)
     * when every {@code out_p} is a multiple of {@link Gemm#NR}, else layer by layer.
     */
    public static Tensor[] linears(ComputePool pool, Tensor x, Tensor[] weights, Tensor[] biases) {
        return linears(pool, x, null, weights, biases);
    }

    /**
     * {@link #linears} of {@code layerNorm(x, gamma, beta, eps)} (a transformer block's norm and the projections that
     * read it): x is normalised while A's panels are packed ({@link LayerNormA}), the normalised x never stored, and the
     * results are exactly those of the separate ops.
     */
    public static Tensor[] layerNormLinears(ComputePool pool, Tensor x, Tensor gamma, Tensor beta, float eps,
                                            Tensor[] weights, Tensor[] biases) {
        return linears(pool, x, new LayerNormIn(gamma, beta, eps), weights, biases);
    }

    /** {@link #linearGeglu} of {@code layerNorm(x, gamma, beta, eps)}, normalised as {@link #layerNormLinears} does. */
    public static Tensor layerNormLinearGeglu(ComputePool pool, Tensor x, Tensor gamma, Tensor beta, float eps,
                                              Tensor weight, Tensor bias) {
        return linearGeglu(pool, x, new LayerNormIn(gamma, beta, eps), weight, bias);
    }

    /** The affine layer normalisation of a linear op's input, or null for the input as it is. */
    private record LayerNormIn(Tensor gamma, Tensor beta, float eps) {
        /** A of the normalised x, read through {@link LayerNormA}, or x itself when there is no normalisation. */
        static Gemm.PackA a(ComputePool pool, LayerNormIn ln, Tensor x, int in) {
            return ln == null ? Gemm.viewA(x, 0, in, 1) : new LayerNormA(pool, x, ln.gamma, ln.beta, ln.eps);
        }

        /** x normalised and stored, for the paths that do not pack A themselves. */
        static Tensor stored(ComputePool pool, LayerNormIn ln, Tensor x) {
            return ln == null ? x : Norms.layerNorm(pool, x, ln.gamma, ln.beta, ln.eps);
        }
    }

    private static Tensor[] linears(ComputePool pool, Tensor x, LayerNormIn ln, Tensor[] weights, Tensor[] biases) {
        if (weights.length == 0 || (biases != null && biases.length != weights.length)) {
            throw new IllegalArgumentException("linears: " + weights.length + " weights and "
                    + (biases == null ? "no" : String.valueOf(biases.length)) + " biases");
        }
        int parts = weights.length;
        int rows = 0;
        boolean whole = true;
        int[] start = new int[parts + 1];
        for (int p = 0; p < parts; p++) {
            rows = checkLinear("linears", x, weights[p], biases == null ? null : biases[p]);
            whole &= weights[p].dim(0) % NR == 0;
            start[p + 1] = start[p] + weights[p].dim(0);
        }
        Tensor[] outs = new Tensor[parts];
        // One layer of x as it is: the plain linear. A normalised x goes through the product below even alone.
        if (!whole || (parts == 1 && ln == null)) {
            Tensor in = LayerNormIn.stored(pool, ln, x);
            for (int p = 0; p < parts; p++) {
                outs[p] = Gemm.linear(pool, in, weights[p], biases == null ? null : biases[p]);
            }
            return outs;
        }
        float[][] arrays = new float[parts][];
        int[] offsets = new int[parts];
        float[][] bs = new float[parts][];
        Gemm.Strided[] views = new Gemm.Strided[parts];
        for (int p = 0; p < parts; p++) {
            outs[p] = Tensor.empty(outDims(x, weights[p].dim(0)));
            arrays[p] = outs[p].array();
            offsets[p] = outs[p].offset();
            Tensor bias = biases == null ? null : biases[p];
            bs[p] = bias == null ? null : Gemm.toFloats(bias);
            views[p] = new Gemm.Strided(weights[p], 0, 1, weights[p].dim(1));
        }
        pool = Gemm.poolFor(pool, x);
        for (Tensor w : weights) {
            pool = Gemm.poolFor(pool, w);
        }
        int in = x.dim(-1);
        // Every panel of NR columns lies in one layer: pack each layer's run of panels from its weight.
        PackBAt b = (k0, kc, j0, nc, dst, dOff) -> {
            for (int j = j0; j < j0 + nc; ) {
                int p = part(start, j);
                int end = Math.min(j0 + nc, start[p + 1]);
                views[p].packB(k0, kc, j - start[p], end - j, dst, dOff + (j - j0) * kc);
                j = end;
            }
        };
        // The kernel writes each layer's output in place; its bias, if any, is added to each finished register tile
        // (a panel of NR columns lies in one layer), as in linear.
        Direct direct = new Direct() {
            @Override
            public float[] array(int j) {
                return arrays[part(start, j)];
            }

            @Override
            public int offset(int i, int j) {
                int p = part(start, j);
                return offsets[p] + i * (start[p + 1] - start[p]) + j - start[p];
            }

            @Override
            public int ld(int j) {
                int p = part(start, j);
                return start[p + 1] - start[p];
            }

            @Override
            public void finish(int i0, int mr, int j0, int nc) {
                int p = part(start, j0);
                if (bs[p] != null) {
                    int w = start[p + 1] - start[p];
                    int jp = j0 - start[p];
                    int at = offsets[p] + i0 * w + jp;
                    store(arrays[p], at, w, mr, nc, bs[p], jp, null, 0, 0, arrays[p], at, w);
                }
            }
        };
        gemm(pool, rows, start[parts], in, LayerNormIn.a(pool, ln, x, in), b, 1, null, direct);
        return outs;
    }

    private static int part(int[] start, int j) {
        int p = 0;
        while (j >= start[p + 1]) {
            p++;
        }
        return p;
    }

    /**
     * GEGLU of a linear layer, {@code a · gelu(g)} (exact GELU) where {@code [a, g] = x · weightᵀ + bias} is split
     * into halves along the last dimension: x {@code [..., in]}, weight {@code [2·h, in]}, bias {@code [2·h]} or
     * null; returns {@code [..., h]}. The {@code [..., 2·h]} product is never stored when h is a multiple of
     * {@link Gemm#NR}: B's panels alternate between the two halves, and each pair becomes output while in cache.
     */
    public static Tensor linearGeglu(ComputePool pool, Tensor x, Tensor weight, Tensor bias) {
        return linearGeglu(pool, x, null, weight, bias);
    }

    private static Tensor linearGeglu(ComputePool pool, Tensor x, LayerNormIn ln, Tensor weight, Tensor bias) {
        int rows = checkLinear("linearGeglu", x, weight, bias);
        if (weight.dim(0) % 2 != 0) {
            throw new IllegalArgumentException("linearGeglu: weight " + weight.shape()
                    + " must have an even number of rows (the two halves a and gate)");
        }
        int h = weight.dim(0) / 2;
        if (h % NR != 0) {
            return Elementwise.geglu(pool, Gemm.linear(pool, LayerNormIn.stored(pool, ln, x), weight, bias));
        }
        int in = weight.dim(1);
        Tensor y = Tensor.empty(outDims(x, h));
        float[] ya = y.array();
        int yo = y.offset();
        float[] b = bias == null ? new float[2 * h] : Gemm.toFloats(bias);
        Gemm.Strided view = new Gemm.Strided(weight, 0, 1, in);
        // B' panel 2q is panel q of the a half, panel 2q + 1 panel q of the gate half.
        PackBAt pb = (k0, kc, j0, nc, dst, dOff) -> {
            for (int j = j0; j < j0 + nc; j += NR) {
                int q = j / NR;
                int src = (q / 2) * NR + (q % 2) * h;
                view.packB(k0, kc, src, NR, dst, dOff + (j - j0) * kc);
            }
        };
        pool = Gemm.poolFor(pool, x, weight);
        gemm(pool, rows, 2 * h, in, LayerNormIn.a(pool, ln, x, in), pb, 2,
                (i0, mr, j0, nc, cs, co, ldcs) -> gegluStrip(cs, co, ldcs, mr, b, j0 / 2, h, ya, yo + i0 * h + j0 / 2),
                null);
        return y;
    }

    /**
     * {@code y[yo + r·h + t] = (a + bias[jo + t]) · gelu(g + bias[h + jo + t])} for the {@code rows} rows of a strip
     * holding an a panel and its gate panel side by side ({@code a = cs[co + r·ldcs + t]},
     * {@code g = cs[co + r·ldcs + NR + t]}, {@code t < NR}); the strip is scratch and gets the biases added in
     * place. The GELU runs in {@link #gegluRow}, a small method of its own: inlined into a bigger loop body, C2
     * stopped at its node limit, left {@code exp} out of line and boxed the vectors (slower than a separate pass).
     */
    private static void gegluStrip(float[] cs, int co, int ldcs, int rows, float[] bias, int jo, int h, float[] y,
                                   int yo) {
        for (int r = 0; r < rows; r++) {
            int src = co + r * ldcs;
            for (int t = 0; t < NR; t += V) {
                FloatVector.fromArray(S, cs, src + t).add(FloatVector.fromArray(S, bias, jo + t)).intoArray(cs, src + t);
                FloatVector.fromArray(S, cs, src + NR + t).add(FloatVector.fromArray(S, bias, h + jo + t))
                        .intoArray(cs, src + NR + t);
            }
        }
        for (int r = 0; r < rows; r++) {
            gegluRow(cs, co + r * ldcs, y, yo + r * h);
        }
    }

    /** {@code y[d + t] = cs[s + t] · gelu(cs[s + NR + t])} for {@code t < NR}. */
    private static void gegluRow(float[] cs, int s, float[] y, int d) {
        for (int t = 0; t < NR; t += V) {
            FloatVector a = FloatVector.fromArray(S, cs, s + t);
            FloatVector g = FloatVector.fromArray(S, cs, s + NR + t);
            a.mul(VectorFunctions.gelu(g)).intoArray(y, d + t);
        }
    }

    /**
     * A linear layer over the channels of an image: x {@code [N, C, H, W]}, weight {@code [out, C]}, bias
     * {@code [out]} or null; returns the sequence {@code [N, H·W, out]}, i.e.
     * {@code linear(transpose(x.reshape(N, C, H·W)), weight, bias)}, reading x in place (no transposed copy).
     */
    public static Tensor linearFromChannels(ComputePool pool, Tensor x, Tensor weight, Tensor bias) {
        return linearFromChannels(pool, x, null, weight, bias);
    }

    /**
     * As {@link #linearFromChannels(ComputePool, Tensor, Tensor, Tensor)} of x normalised per image and channel on the
     * way in: {@code (x - mean)·scale + shift} with {@code norm = {mean, scale, shift}} of N·C values each (see
     * {@link Norms#groupNormCoefficients}; x then a heap tensor), or of x as it is when {@code norm} is null. The values
     * packed are exactly those a separate {@link Norms#groupNorm} would have stored.
     */
    static Tensor linearFromChannels(ComputePool pool, Tensor x, float[][] norm, Tensor weight, Tensor bias) {
        if (x == null || weight == null || x.rank() != 4 || weight.rank() != 2 || x.dim(1) != weight.dim(1)
                || (bias != null && (bias.rank() != 1 || bias.dim(0) != weight.dim(0)))) {
            throw new IllegalArgumentException("linearFromChannels: shapes x " + (x == null ? "null" : x.shape())
                    + ", weight " + (weight == null ? "null" : weight.shape()) + ", bias "
                    + (bias == null ? "none" : bias.shape()) + " (expected x [N, C, H, W], weight [out, C], bias [out])");
        }
        int n = x.dim(0);
        int hw = Math.multiplyExact(x.dim(2), x.dim(3));
        int out = weight.dim(0);
        if ((long) n * hw * Math.max(1, out) > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("linearFromChannels: output of x " + x.shape() + " and weight "
                    + weight.shape() + " is too large for a heap tensor");
        }
        Tensor y = Tensor.empty(n, hw, out);
        float[] ya = y.array();
        int yo = y.offset();
        float[] b = bias == null ? null : Gemm.toFloats(bias);
        IntFunction<Epilogue> epilogue = bi -> (i0, mr, j0, nc, cs, co, ldcs) -> store(cs, co, ldcs, mr, nc, b, j0, null,
                0, 0, ya, yo + bi * hw * out + i0 * out + j0, out);
        int c = x.dim(1);
        IntFunction<Gemm.PackA> a = norm == null ? null
                : bi -> normalizedPixels(x.array(), x.offset() + bi * c * hw, hw, norm, bi * c);
        overPixels(Gemm.poolFor(pool, x, weight), x, weight, a, epilogue, true);
        return y;
    }

    /**
     * A of {@code layerNorm(x, gamma, beta, eps)}, x {@code [..., in]}: the rows' statistics are computed up front
     * ({@link Norms#layerNormStats}); each panel's rows are then normalised a chunk of K at a time into a block
     * in L1 (the very values {@link Norms#layerNorm} stores) and gathered from it into the panel, so the normalised x
     * is never stored whole: one pass over x fewer, and no second copy of it written and read back.
     */
    static final class LayerNormA implements Gemm.PackAAt {
        /**
         * Columns normalised at a time (a multiple of every gather step): a whole K block of up to 320, 15 KiB of
         * rows in L1 (64 at a time: GEGLU 8192 × 320 → 2560 and one layer 8192 × 320 → 320 2-5 % slower, the
         * per-chunk calls' overhead).
         */
        private static final int CHUNK = 320;
        private static final ThreadBuffers BLOCKS = new ThreadBuffers(1);
        private final float[] x;
        private final int xo;
        private final int in;
        private final float[] stats;
        private final float[] gamma;
        private final float[] beta;

        LayerNormA(ComputePool pool, Tensor x, Tensor gamma, Tensor beta, float eps) {
            Tensor h = Kernels.heap(x);
            this.in = x.dim(-1);
            float[] g = Kernels.param("layerNorm", "gamma", gamma, in, x);
            float[] b = Kernels.param("layerNorm", "beta", beta, in, x);
            this.gamma = g == null ? Norms.filled(in, 1f) : g;
            this.beta = b == null ? new float[in] : b;
            this.x = h.array();
            this.xo = h.offset();
            this.stats = Norms.layerNormStats(pool, this.x, xo, (int) (h.numel() / Math.max(1, in)), in, eps);
        }

        @Override
        public void pack(int i0, int mc, int k0, int kc, float[] dst, int dOff) {
            float[] block = BLOCKS.get(0, MR * CHUNK);
            for (int p = 0; p * MR < mc; p++) {
                int rows = Math.min(MR, mc - p * MR);
                int d = dOff + p * MR * kc;
                for (int k = 0; k < kc; k += CHUNK) {
                    int len = Math.min(CHUNK, kc - k);
                    for (int r = 0; r < MR; r++) {
                        if (r < rows) {
                            int row = i0 + p * MR + r;
                            Norms.layerNormRun(x, xo + row * in + k0 + k, block, r * len, len, stats[3 * row],
                                    stats[3 * row + 1], stats[3 * row + 2], gamma, beta, k0 + k);
                        } else {
                            java.util.Arrays.fill(block, r * len, (r + 1) * len, 0f);
                        }
                    }
                    Gemm.Strided.gatherPanel(block, 0, len, len, dst, d + k * MR);
                }
            }
        }
    }

    /**
     * A {@code [pixels, channels]} of one image read in place from its channel planes ({@code x[base + k·hw + i]}),
     * each value normalised as {@code (x - mean)·scale + shift} with the coefficients of its channel ({@code norm[·][c0
     * + k]}) while it is packed: a run of consecutive pixels per channel, cut into whole panels (MR = 8 + 4 values
     * with AVX-512, as {@code Gemm.Strided.packA} cuts them).
     */
    private static Gemm.PackAAt normalizedPixels(float[] x, int base, int hw, float[][] norm, int c0) {
        float[] mean = norm[0];
        float[] scale = norm[1];
        float[] shift = norm[2];
        return (i0, mc, k0, kc, dst, dOff) -> {
            int whole = mc / MR;
            int rows = mc - whole * MR;
            for (int k = 0; k < kc; k++) {
                int ch = c0 + k0 + k;
                float m = mean[ch];
                float sc = scale[ch];
                float sh = shift[ch];
                int src = base + (k0 + k) * hw + i0;
                int o = dOff + k * MR;
                for (int q = 0; q < whole; q++, src += MR, o += MR * kc) {
                    if (MR == 12 && V == 16) {
                        FloatVector.fromArray(S8, x, src).sub(m).fma(sc, sh).intoArray(dst, o);
                        FloatVector.fromArray(S4, x, src + 8).sub(m).fma(sc, sh).intoArray(dst, o + 8);
                    } else {
                        for (int r = 0; r < MR; r++) {
                            dst[o + r] = Math.fma(x[src + r] - m, sc, sh);
                        }
                    }
                }
                if (rows > 0) {
                    for (int r = 0; r < MR; r++) {
                        dst[o + r] = r < rows ? Math.fma(x[src + r] - m, sc, sh) : 0f;
                    }
                }
            }
        };
    }

    /**
     * One product per image of x {@code [N, C, H, W]} with its pixels as the rows ({@code A(i, k) = x[bi, k, i]}, read
     * in place: consecutive rows are consecutive pixels of one channel) and {@code weight [out, C, ...]} as B, packed
     * once per image; image {@code bi}'s blocks go to {@code epilogue.apply(bi)}. Its A is {@code a.apply(bi)} when
     * {@code a} is given (the same values transformed as they are packed), else x's pixels as they are.
     */
    private static void overPixels(ComputePool pool, Tensor x, Tensor weight, IntFunction<Gemm.PackA> a,
                                   IntFunction<Epilogue> epilogue, boolean rowPanels) {
        int c = x.dim(1);
        int hw = x.dim(2) * x.dim(3);
        PackBAt pb = weightB(weight);
        for (int bi = 0; bi < x.dim(0); bi++) {
            Gemm.PackA ab = a != null ? a.apply(bi) : Gemm.viewA(x, (long) bi * c * hw, 1, hw);
            gemm(pool, hw, weight.dim(0), c, ab, pb, 1, epilogue.apply(bi), null, rowPanels);
        }
    }

    /**
     * A 1×1 convolution: x {@code [N, C, H, W]} (heap F32), weight {@code [out, C, 1, 1]}, bias {@code [out]} or null,
     * residual {@code [N, out, H, W]} or null; returns {@code [N, out, H, W]}. Each image is one product with its pixels
     * as the rows (read in place from the channel planes), the weight converted and packed once per image, and the
     * result written back to channel planes by the epilogue (images of at most {@link #BATCHED_PIXELS} pixels are copied
     * side by side into one product, the weight packed once for all). Into {@code residual}'s own storage when
     * {@code residualIsScratch} and it is a whole heap array other than x's ({@link Kernels#reusesResidual}; each element
     * is read before it is written, at the same index). As a product over the channels with the pixels as columns (Conv2d's path), C's rows lie whole planes
     * apart and all of K for 1024 pixels of packed image does not fit in L2: 110–120 GFLOP/s on two threads for one
     * shape repeated, about 200 inside a U-Net step; this way 200–250 repeated.
     */
    public static Tensor conv1x1(ComputePool pool, Tensor x, Tensor weight, Tensor bias, Tensor residual,
                                 boolean residualIsScratch) {
        if (x == null || weight == null || !x.isHeap() || x.rank() != 4 || weight.rank() != 4 || weight.dim(2) != 1
                || weight.dim(3) != 1 || x.dim(1) != weight.dim(1)
                || (bias != null && (bias.rank() != 1 || bias.dim(0) != weight.dim(0)))) {
            throw new IllegalArgumentException("conv1x1: shapes x " + (x == null ? "null" : x.shape())
                    + ", weight " + (weight == null ? "null" : weight.shape()) + ", bias "
                    + (bias == null ? "none" : bias.shape())
                    + " (expected heap x [N, C, H, W], weight [out, C, 1, 1], bias [out])");
        }
        int n = x.dim(0);
        int hw = Math.multiplyExact(x.dim(2), x.dim(3));
        int out = weight.dim(0);
        Shape shape = Shape.of(n, out, x.dim(2), x.dim(3));
        if (residual != null && !residual.shape().equals(shape)) {
            throw new IllegalArgumentException("conv1x1: residual " + residual.shape() + " does not match the output "
                    + shape + " of x " + x.shape() + " and weight " + weight.shape());
        }
        if (shape.numel() > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("conv1x1: output " + shape + " is too large for a heap tensor");
        }
        Tensor res = residual == null ? null : Kernels.heap(residual);
        float[] ra = res == null ? null : res.array();
        int ro = res == null ? 0 : res.offset();
        Tensor y = Kernels.reusesResidual(residual, residualIsScratch, x) ? residual : Tensor.empty(shape);
        float[] ya = y.array();
        float[] b = bias == null ? null : Gemm.toFloats(bias);
        if (n > 1 && hw <= BATCHED_PIXELS) {
            // Small images: the batch side by side as one product, so the weight is converted and packed once rather
            // than once per image (each image's product is mostly that packing).
            int c = x.dim(1);
            int rows = n * hw;
            Tensor side = Tensor.empty(c, rows);
            float[] sa = side.array();
            float[] xa = x.array();
            for (int img = 0; img < n; img++) {
                for (int ch = 0; ch < c; ch++) {
                    System.arraycopy(xa, x.offset() + (img * c + ch) * hw, sa, side.offset() + ch * rows + img * hw, hw);
                }
            }
            gemm(Gemm.poolFor(pool, x, weight), rows, out, c, Gemm.viewA(side, 0, 1, rows), weightB(weight), 1,
                    (i0, mr, j0, nc, cs, co, ldcs) -> storeToChannels(cs, co, ldcs, i0, mr, j0, nc, b, ra, ro, ya,
                            y.offset(), 0, hw, out), null, false);
            return y;
        }
        // The epilogue writes columns (channel planes): blocks a whole block of rows tall.
        overPixels(Gemm.poolFor(pool, x, weight), x, weight, null, bi -> (i0, mr, j0, nc, cs, co, ldcs) -> storeToChannels(cs,
                co, ldcs, i0, mr, j0, nc, b, ra, ro, ya, y.offset(), bi * out * hw, hw, out), false);
        return y;
    }

    /**
     * The way back to an image: x {@code [N, H·W, in]}, weight {@code [C, in]}, bias {@code [C]} or null,
     * residual {@code [N, C, H, W]} or null; returns {@code [N, C, H, W]} =
     * {@code transpose(linear(x, weight, bias)).reshape(N, C, H, W) + residual}, written in place from the
     * product (no channels-last copy).
     */
    public static Tensor linearToChannels(ComputePool pool, Tensor x, Tensor weight, Tensor bias, Tensor residual,
                                          int height, int width) {
        return linearToChannels(pool, x, weight, bias, residual, height, width, false);
    }

    /**
     * As {@link #linearToChannels(ComputePool, Tensor, Tensor, Tensor, Tensor, int, int)}; into {@code residual}'s own
     * storage when {@code residualIsScratch} and it is a whole heap array other than x's ({@link Kernels#reusesResidual};
     * each element is read before it is written, at the same index): no fresh image written besides the residual read.
     */
    public static Tensor linearToChannels(ComputePool pool, Tensor x, Tensor weight, Tensor bias, Tensor residual,
                                          int height, int width, boolean residualIsScratch) {
        if (x == null || weight == null || x.rank() != 3 || weight.rank() != 2 || x.dim(2) != weight.dim(1)
                || height < 0 || width < 0 || (long) height * width != x.dim(1)
                || (bias != null && (bias.rank() != 1 || bias.dim(0) != weight.dim(0)))) {
            throw new IllegalArgumentException("linearToChannels: shapes x " + (x == null ? "null" : x.shape())
                    + ", weight " + (weight == null ? "null" : weight.shape()) + ", bias "
                    + (bias == null ? "none" : bias.shape()) + ", image " + height + "x" + width
                    + " (expected x [N, H·W, in], weight [C, in], bias [C])");
        }
        int n = x.dim(0);
        int hw = x.dim(1);
        int out = weight.dim(0);
        Shape shape = Shape.of(n, out, height, width);
        if (residual != null && !residual.shape().equals(shape)) {
            throw new IllegalArgumentException("linearToChannels: residual " + residual.shape()
                    + " does not match the output " + shape + " of x " + x.shape() + " and weight " + weight.shape());
        }
        if (shape.numel() > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("linearToChannels: output " + shape + " is too large for a heap tensor");
        }
        Tensor y = Kernels.reusesResidual(residual, residualIsScratch, x) ? residual : Tensor.empty(shape);
        float[] ya = y.array();
        Tensor res = residual == null ? null : Kernels.heap(residual);
        float[] ra = res == null ? null : res.array();
        int ro = res == null ? 0 : res.offset();
        float[] b = bias == null ? null : Gemm.toFloats(bias);
        int in = x.dim(2);
        pool = Gemm.poolFor(pool, x, weight);
        gemm(pool, n * hw, out, in, Gemm.viewA(x, 0, in, 1), weightB(weight), 1,
                (i0, mr, j0, nc, cs, co, ldcs) -> storeToChannels(cs, co, ldcs, i0, mr, j0, nc, b, ra, ro, ya,
                        y.offset(), 0, hw, out),
                null, false);
        return y;
    }

    /**
     * Writes rows {@code [i0, i0 + rows)} (pixels of the flattened batch) × channels {@code [j0, j0 + cols)} of a
     * strip of C to the NCHW output (element {@code e} of its images from {@code base} on at {@code y[yo + base + e]}),
     * adding bias and residual (laid out as y, at {@code res[ro + base + e]}): per channel, runs of consecutive pixels
     * of one image are gathered from the strip's column (stride ldcs) a vector at a time.
     */
    private static void storeToChannels(float[] cs, int co, int ldcs, int i0, int rows, int j0, int cols, float[] bias,
                                        float[] res, int ro, float[] y, int yo, int base, int hw, int out) {
        int[] idx = new int[V];
        for (int t = 0; t < V; t++) {
            idx[t] = t * ldcs;
        }
        for (int r = 0; r < rows; ) {
            int img = (i0 + r) / hw;
            int pix = (i0 + r) % hw;
            int run = Math.min(rows - r, hw - pix);
            for (int j = 0; j < cols; j++) {
                float bj = bias == null ? 0f : bias[j0 + j];
                int dst = base + (img * out + j0 + j) * hw + pix;
                int src = co + r * ldcs + j;
                int t = 0;
                for (; t + V <= run; t += V) {
                    FloatVector v = FloatVector.fromArray(S, cs, src + t * ldcs, idx, 0).add(bj);
                    if (res != null) {
                        v = v.add(FloatVector.fromArray(S, res, ro + dst + t));
                    }
                    v.intoArray(y, yo + dst + t);
                }
                for (; t < run; t++) {
                    float v = cs[src + t * ldcs] + bj;
                    y[yo + dst + t] = res == null ? v : v + res[ro + dst + t];
                }
            }
            r += run;
        }
    }

    /**
     * {@link #linear} of at most {@link #FEW_ROWS} rows: each weight row is read (converted to F32) once and dotted
     * with every input row, the outputs split over the pool. A GEMM would spend its time packing the weight for a
     * tile of mostly padding: the U-Net's time-embedding projections (2 × 1280 → 1280) ran at 6 GFLOP/s.
     */
    private static void fewRows(ComputePool pool, int rows, Tensor x, Tensor weight, float[] bias, float[] res, int ro,
                                float[] y, int yo) {
        int in = weight.dim(1);
        int out = weight.dim(0);
        float[] xa = x.array();
        int xo = x.offset();
        int chunks = Math.max(1, Math.min(out / 16, 4 * pool.threads()));
        pool.parallelFor(chunks, 1, (from, to) -> {
            float[] row = weight.isHeap() ? null : new float[in];
            for (int t = from; t < to; t++) {
                int j0 = (int) ((long) out * t / chunks);
                int j1 = (int) ((long) out * (t + 1) / chunks);
                for (int j = j0; j < j1; j++) {
                    float[] w;
                    int wo;
                    if (row == null) {
                        w = weight.array();
                        wo = weight.offset() + j * in;
                    } else {
                        HalfFloats.toFloats(weight.segment(), weight.dtype(), (long) j * in, row, 0, in);
                        w = row;
                        wo = 0;
                    }
                    for (int r = 0; r < rows; r++) {
                        float v = dot(xa, xo + r * in, w, wo, in) + (bias == null ? 0f : bias[j]);
                        y[yo + r * out + j] = res == null ? v : v + res[ro + r * out + j];
                    }
                }
            }
        });
    }

    /** {@code Σ a[ao + i] · b[bo + i]} for {@code i < n}, in four vector accumulators. */
    private static float dot(float[] a, int ao, float[] b, int bo, int n) {
        FloatVector s0 = FloatVector.zero(S);
        FloatVector s1 = FloatVector.zero(S);
        FloatVector s2 = FloatVector.zero(S);
        FloatVector s3 = FloatVector.zero(S);
        int i = 0;
        for (; i + 4 * V <= n; i += 4 * V) {
            s0 = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), s0);
            s1 = FloatVector.fromArray(S, a, ao + i + V).fma(FloatVector.fromArray(S, b, bo + i + V), s1);
            s2 = FloatVector.fromArray(S, a, ao + i + 2 * V).fma(FloatVector.fromArray(S, b, bo + i + 2 * V), s2);
            s3 = FloatVector.fromArray(S, a, ao + i + 3 * V).fma(FloatVector.fromArray(S, b, bo + i + 3 * V), s3);
        }
        for (; i + V <= n; i += V) {
            s0 = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), s0);
        }
        // Lanes added in a fixed order (Norms.sumLanes): reduceLanes rounds differently compiled and interpreted.
        float sum = (float) Norms.sumLanes(s0.add(s1).add(s2.add(s3)));
        for (; i < n; i++) {
            sum += a[ao + i] * b[bo + i];
        }
        return sum;
    }

    private static int checkLinear(String op, Tensor x, Tensor weight, Tensor bias) {
        if (x == null || weight == null || x.rank() < 1 || weight.rank() != 2 || x.dim(-1) != weight.dim(1)
                || (bias != null && (bias.rank() != 1 || bias.dim(0) != weight.dim(0)))) {
            throw new IllegalArgumentException(op + ": shapes x " + (x == null ? "null" : x.shape()) + ", weight "
                    + (weight == null ? "null" : weight.shape()) + ", bias " + (bias == null ? "none" : bias.shape())
                    + " (expected x [..., in], weight [out, in], bias [out])");
        }
        long rows = x.shape().product(0, x.rank() - 1);
        if (rows * Math.max(1, weight.dim(0)) > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(op + ": output of x " + x.shape() + " and weight " + weight.shape()
                    + " is too large for a heap tensor");
        }
        return (int) rows;
    }

    private static int[] outDims(Tensor x, int out) {
        int[] dims = x.shape().dims();
        dims[dims.length - 1] = out;
        return dims;
    }

    /** B = weightᵀ of a row-major {@code [out, in]} weight. */
    private static PackBAt weightB(Tensor weight) {
        Gemm.Strided s = new Gemm.Strided(weight, 0, 1, weight.dim(1));
        return s::packB;
    }

    /**
     * {@code y[yo + r·ldy + j] = cs[co + r·ldcs + j] + bias[bo + j] + res[ro + r·ldr + j]} for {@code r < rows},
     * {@code j < cols}; bias and res may be null.
     */
    private static void store(float[] cs, int co, int ldcs, int rows, int cols, float[] bias, int bo,
                              float[] res, int ro, int ldr, float[] y, int yo, int ldy) {
        int full = cols - cols % V;
        for (int r = 0; r < rows; r++) {
            int s = co + r * ldcs;
            int d = yo + r * ldy;
            int e = ro + r * ldr;
            int j = 0;
            for (; j < full; j += V) {
                FloatVector v = FloatVector.fromArray(S, cs, s + j);
                if (bias != null) {
                    v = v.add(FloatVector.fromArray(S, bias, bo + j));
                }
                if (res != null) {
                    v = v.add(FloatVector.fromArray(S, res, e + j));
                }
                v.intoArray(y, d + j);
            }
            for (; j < cols; j++) {
                float v = cs[s + j];
                if (bias != null) {
                    v += bias[bo + j];
                }
                if (res != null) {
                    v += res[e + j];
                }
                y[d + j] = v;
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // The driver

    private static float[] buffer(int which, int size) {
        return BUFFERS.get(which, size);
    }

    /**
     * {@code C = A·B} ({@code m × n}, depth {@code k}) handed to {@code epilogue} one strip at a time, never
     * stored whole. Each block has at most {@link Gemm#MC} rows and is a whole group of {@code group}
     * panels of {@link Gemm#NR} columns (clipped at n; {@code j0} a multiple of {@code group·NR}). With
     * {@code direct} instead (group 1, epilogue null), C is written in place there.
     *
     * <p>Order: B is cut into chunks of whole groups (at most {@link Gemm#NC} columns, at most {@link #CHUNK_B}
     * packed floats), each packed once for all K by all threads together into one buffer the tasks share (a
     * weight's F16 → F32 conversion then happens once per call, not once per row tile); the tasks of a chunk
     * (row ranges × column ranges) run block of rows by block of rows, every K block of a block of rows before
     * the next, so its strip of C ({@code MC × chunk} floats) stays in L2 while it accumulates and goes to the
     * epilogue from there.
     */
    static void gemm(ComputePool pool, int m, int n, int k, Gemm.PackA a, PackBAt b, int group, Epilogue epilogue,
                     Direct direct) {
        gemm(pool, m, n, k, a, b, group, epilogue, direct, true);
    }

    /**
     * As {@link #gemm(ComputePool, int, int, int, Gemm.PackA, PackBAt, int, Epilogue, Direct)}; {@code rowPanels}
     * false keeps the epilogue's blocks a whole block of rows tall (an epilogue that writes columns, as
     * {@link #linearToChannels} does, wants long runs of rows), else the last K block hands them over
     * {@link Gemm#MR} rows at a time.
     */
    static void gemm(ComputePool pool, int m, int n, int k, Gemm.PackA a, PackBAt b, int group, Epilogue epilogue,
                     Direct direct, boolean rowPanels) {
        if (m < 0 || n < 0 || k < 0 || group < 1) {
            throw new IllegalArgumentException("gemm: bad sizes m=" + m + " n=" + n + " k=" + k + " group=" + group);
        }
        if (m == 0 || n == 0) {
            return;
        }
        int gw = group * NR;
        if (k == 0 && direct != null) {
            for (int j = 0; j < n; j += NR) {
                for (int i = 0; i < m && !direct.accumulates(); i++) {
                    java.util.Arrays.fill(direct.array(j), direct.offset(i, j), direct.offset(i, j) + Math.min(NR, n - j), 0f);
                }
                for (int i = 0; i < m; i += MR) {
                    direct.finish(i, Math.min(MR, m - i), j, Math.min(NR, n - j));
                }
            }
            return;
        }
        if (k == 0) {
            float[] zero = new float[MC * gw];
            for (int i0 = 0; i0 < m; i0 += MC) {
                for (int j0 = 0; j0 < n; j0 += gw) {
                    epilogue.apply(i0, Math.min(MC, m - i0), j0, Math.min(gw, n - j0), zero, 0, gw);
                }
            }
            return;
        }
        int groups = (n + gw - 1) / gw;
        int mPanels = (m + MR - 1) / MR;
        int kBlocks = Gemm.kBlocks(k);
        int threads = (double) m * n * k < Gemm.SERIAL_BELOW ? 1 : pool.threads();
        // Chunks of equal width (whole groups), as wide as the strip in L2 and the packed-B bound allow.
        int maxGroups = Math.max(1, Math.min(NC / gw, (int) Math.min(Integer.MAX_VALUE, CHUNK_B / ((long) k * gw))));
        int chunks = (groups + maxGroups - 1) / maxGroups;
        int chunkGroups = (groups + chunks - 1) / chunks;
        int ldChunk = chunkGroups * gw;
        // A packed once for all chunks and column tiles when it would otherwise be packed more than once and is
        // small enough (few rows: the column tiles each packed all of it again, per chunk).
        long aFloats = (long) mPanels * MR * k;
        boolean canShareA = a instanceof Gemm.PackAAt && aFloats <= SHARED_A;
        // With A shared and columns enough for every thread, the rows need no split: no two tasks need the same
        // columns of B, and each task packs its own (no barrier between packing and use).
        int minGroups = Math.max(1, 4 / group);
        // Only for few rows (then B goes K block by K block through L2, never through L3; one thread too): with
        // many, every column tile would read all of A again from L3, more traffic than sharing B costs.
        boolean ownB = canShareA && groups >= 2 * threads * minGroups && m <= K_OUTER_ROWS;
        float[] sharedA = null;
        if (canShareA && (chunks > 1 || ownB || (threads > 1 && m < NC))) {
            Gemm.PackAAt sa = (Gemm.PackAAt) a;
            float[] ap = buffer(4, (int) aFloats);
            int runs = threads > 1 ? Math.min(mPanels, 2 * threads) : 1;
            run(pool, threads, runs, (from, to) -> {
                for (int r = from; r < to; r++) {
                    int p0 = (int) ((long) mPanels * r / runs);
                    int p1 = (int) ((long) mPanels * (r + 1) / runs);
                    if (p0 < p1) {
                        // Panel p over all of K at p·MR·k: K block [pc, pc + kc) of it starts at p·MR·k + pc·MR.
                        sa.pack(p0 * MR, Math.min(m, p1 * MR) - p0 * MR, 0, k, ap, p0 * MR * k);
                    }
                }
            });
            sharedA = ap;
        }
        final float[] fa = sharedA;
        if (ownB) {
            // One parallel loop for the whole call: column tiles no wider than a chunk, at least two per thread and a
            // multiple of the thread count.
            // A few blocks of rows: K block by K block, each packed once into L2 for all of them (no packed B
            // through L3), the strip of C of all rows kept there too; tiles as narrow as that needs.
            boolean perBlock = m <= K_OUTER_ROWS;
            int mPad = mPanels * MR;
            int cap = perBlock ? Math.max(1, Math.min(Math.min(maxGroups, 512 / gw), L2_FLOATS / (mPad + KC) / gw))
                    : maxGroups;
            int tasks = (Math.max((groups + cap - 1) / cap, 2 * threads) + threads - 1) / threads * threads;
            ComputePool.RangeBody body = (from, to) -> {
                for (int t = from; t < to; t++) {
                    int g0 = (int) ((long) groups * t / tasks);
                    int g1 = (int) ((long) groups * (t + 1) / tasks);
                    if (g0 >= g1) {
                        continue;
                    }
                    int j0 = g0 * gw;
                    int j1 = Math.min(n, g1 * gw);
                    int ld = (g1 - g0) * gw;
                    if (perBlock) {
                        taskKOuter(m, j0, j1, k, kBlocks, fa, buffer(0, KC * ld + OFF), b, gw, epilogue, direct);
                        continue;
                    }
                    float[] own = buffer(0, Math.addExact(Math.multiplyExact(k, ld), OFF));
                    for (int kb = 0; kb < kBlocks; kb++) {
                        int pc = Gemm.kStart(k, kBlocks, kb);
                        b.pack(pc, Gemm.kStart(k, kBlocks, kb + 1) - pc, j0, j1 - j0, own, OFF + pc * ld);
                    }
                    task(0, m, j0, j1, k, kBlocks, a, fa, own, ld, 0, gw, epilogue, direct, rowPanels);
                }
            };
            run(pool, threads, tasks, body);
            return;
        }
        // The calling thread's buffer, read by every task of the call (the pool's barrier orders the writes first).
        float[] bp = buffer(0, Math.addExact(Math.multiplyExact(k, ldChunk), OFF));
        for (int ch = 0; ch < chunks; ch++) {
            int g0 = ch * chunkGroups;
            int g1 = Math.min(groups, g0 + chunkGroups);
            if (g0 >= g1) {
                break;
            }
            int cj0 = g0 * gw;
            int cj1 = Math.min(n, g1 * gw);
            int cPanels = (cj1 - cj0 + NR - 1) / NR;
            // Pack the chunk: K blocks × runs of panels, spread over the threads.
            int runs = threads > 1 ? Math.min(cPanels, 2 * threads) : 1;
            ComputePool.RangeBody pack = (from, to) -> {
                for (int t = from; t < to; t++) {
                    int kb = t / runs;
                    int r = t % runs;
                    int p0 = (int) ((long) cPanels * r / runs);
                    int p1 = (int) ((long) cPanels * (r + 1) / runs);
                    int pc = Gemm.kStart(k, kBlocks, kb);
                    int kc = Gemm.kStart(k, kBlocks, kb + 1) - pc;
                    if (p0 < p1) {
                        int j = cj0 + p0 * NR;
                        b.pack(pc, kc, j, Math.min(cj1, cj0 + p1 * NR) - j, bp, OFF + pc * ldChunk + p0 * NR * kc);
                    }
                }
            };
            run(pool, threads, kBlocks * runs, pack);
            // Tasks: at least two per thread and a multiple of the thread count; split the columns while their
            // tiles stay wide (A is packed again per column tile), else the rows.
            int cGroups = g1 - g0;
            int mt = 1;
            int nt = 1;
            if (threads > 1) {
                int want = 2 * threads;
                for (int guard = 0; guard < 64 && (mt * nt < want || (mt * nt) % threads != 0); guard++) {
                    boolean canN = cGroups / (nt + 1) >= minGroups;
                    boolean canM = mPanels / (mt + 1) >= 2;
                    if (canN && ((double) (cj1 - cj0) / nt >= (double) m / mt || !canM)) {
                        nt++;
                    } else if (canM) {
                        mt++;
                    } else if (cGroups / (nt + 1) >= 1) {
                        nt++;
                    } else {
                        break;
                    }
                }
            }
            final int fmt = mt;
            final int fnt = nt;
            ComputePool.RangeBody body = (from, to) -> {
                for (int t = from; t < to; t++) {
                    int ti = t / fnt;
                    int tj = t % fnt;
                    int i0 = (int) ((long) mPanels * ti / fmt) * MR;
                    int i1 = Math.min(m, (int) ((long) mPanels * (ti + 1) / fmt) * MR);
                    int j0 = cj0 + (int) ((long) cGroups * tj / fnt) * gw;
                    int j1 = Math.min(cj1, cj0 + (int) ((long) cGroups * (tj + 1) / fnt) * gw);
                    if (i0 < i1 && j0 < j1) {
                        task(i0, i1, j0, j1, k, kBlocks, a, fa, bp, ldChunk, (j0 - cj0), gw, epilogue, direct, rowPanels);
                    }
                }
            };
            run(pool, threads, mt * nt, body);
        }
    }

    private static void run(ComputePool pool, int threads, int tasks, ComputePool.RangeBody body) {
        if (threads > 1 && tasks > 1) {
            pool.parallelFor(tasks, 1, body);
        } else {
            body.run(0, tasks);
        }
    }

    /**
     * Rows [i0, i1) and columns [j0, j1) of C, block of rows by block of rows: all K blocks of one block (B read
     * from the chunk's packed buffer {@code bp}, K block at {@code pc·ldChunk}, this task's panels from column
     * {@code cOff} of the chunk) accumulate in its strip, which in the last K block is handed to the epilogue one
     * group of panels at a time while in cache; with {@code direct}, into C in place.
     */
    private static void task(int i0, int i1, int j0, int j1, int k, int kBlocks, Gemm.PackA a, float[] sharedA,
                             float[] bp, int ldChunk, int cOff, int gw, Epilogue epilogue, Direct direct,
                             boolean rowPanels) {
        int ncols = j1 - j0;
        int nPad = (ncols + NR - 1) / NR * NR;
        int ld = Gemm.spread(nPad);
        float[] ap = sharedA != null ? sharedA : buffer(1, KC * MC);
        float[] strip = direct == null ? buffer(2, MC * ld) : null;
        float[] tile = direct != null ? buffer(3, MR * NR) : null;
        for (int ic = i0; ic < i1; ic += MC) {
            int mc = Math.min(MC, i1 - ic);
            for (int kb = 0; kb < kBlocks; kb++) {
                int pc = Gemm.kStart(k, kBlocks, kb);
                int kc = Gemm.kStart(k, kBlocks, kb + 1) - pc;
                int bo = OFF + pc * ldChunk + cOff * kc;
                boolean add = kb > 0;
                // Panel ir of the block at ao + ir·aStep: packed here (kc deep), or in the shared A (k deep).
                int ao;
                int aStep;
                if (sharedA == null) {
                    a.pack(ic, mc, pc, kc, ap);
                    ao = 0;
                    aStep = kc;
                } else {
                    ao = ic * k + pc * MR;
                    aStep = k;
                }
                if (direct != null) {
                    macroDirect(mc, ncols, kc, ap, ao, aStep, bp, bo, ic, j0, direct, tile, add, kb == kBlocks - 1);
                    continue;
                }
                boolean last = kb == kBlocks - 1;
                if (!last || !rowPanels) {
                    // Panel by panel (its B stays in L1 over the rows); after the last K block, the group's strip of
                    // C is finished and goes to the epilogue while in L1/L2.
                    for (int g = 0; g < nPad; g += gw) {
                        int ge = Math.min(nPad, g + gw);
                        for (int jr = g; jr < ge; jr += NR) {
                            for (int ir = 0; ir < mc; ir += MR) {
                                Gemm.kernel(kc, ap, ao + ir * aStep, bp, bo + jr * kc, strip, ir * ld + jr, ld, add);
                            }
                        }
                        if (last) {
                            epilogue.apply(ic, mc, j0 + g, Math.min(ge, ncols) - g, strip, g, ld);
                        }
                    }
                    continue;
                }
                // The last K block row panel by row panel: its MR rows of C are finished across all the columns and
                // go to the epilogue group by group while in L1, so that C is written as MR rows streaming left to
                // right (group by group over all the rows, each group's rows lay far apart: 10 % slower at K = 320).
                for (int ir = 0; ir < mc; ir += MR) {
                    for (int jr = 0; jr < nPad; jr += NR) {
                        Gemm.kernel(kc, ap, ao + ir * aStep, bp, bo + jr * kc, strip, ir * ld + jr, ld, add);
                    }
                    int rows = Math.min(MR, mc - ir);
                    for (int g = 0; g < nPad; g += gw) {
                        int ge = Math.min(nPad, g + gw);
                        epilogue.apply(ic + ir, rows, j0 + g, Math.min(ge, ncols) - g, strip, ir * ld + g, ld);
                    }
                }
            }
        }
    }

    /**
     * All rows and columns [j0, j1) of C, K block by K block: B packed into {@code bp} once per K block and used by
     * every block of rows (A from the shared, fully packed {@code sharedA}); the strip of C of all rows (or C in
     * place with {@code direct}) accumulates over the K blocks and goes to the epilogue after the last.
     */
    private static void taskKOuter(int m, int j0, int j1, int k, int kBlocks, float[] sharedA, float[] bp,
                                   PackBAt b, int gw, Epilogue epilogue, Direct direct) {
        int ncols = j1 - j0;
        int nPad = (ncols + NR - 1) / NR * NR;
        int ld = Gemm.spread(nPad);
        float[] strip = direct == null ? buffer(2, (m + MR - 1) / MR * MR * ld) : null;
        float[] tile = direct != null ? buffer(3, MR * NR) : null;
        for (int kb = 0; kb < kBlocks; kb++) {
            int pc = Gemm.kStart(k, kBlocks, kb);
            int kc = Gemm.kStart(k, kBlocks, kb + 1) - pc;
            b.pack(pc, kc, j0, ncols, bp, OFF);
            boolean add = kb > 0;
            boolean last = kb == kBlocks - 1;
            for (int ic = 0; ic < m; ic += MC) {
                int mc = Math.min(MC, m - ic);
                // Panel of rows i at i·k in the shared A; its K block from pc·MR on.
                int ao = ic * k + pc * MR;
                if (direct != null) {
                    macroDirect(mc, ncols, kc, sharedA, ao, k, bp, OFF, ic, j0, direct, tile, add, last);
                    continue;
                }
                for (int g = 0; g < nPad; g += gw) {
                    int ge = Math.min(nPad, g + gw);
                    for (int jr = g; jr < ge; jr += NR) {
                        for (int ir = 0; ir < mc; ir += MR) {
                            Gemm.kernel(kc, sharedA, ao + ir * k, bp, OFF + jr * kc, strip, (ic + ir) * ld + jr, ld,
                                    add);
                        }
                    }
                    if (last) {
                        epilogue.apply(ic, mc, j0 + g, Math.min(ge, ncols) - g, strip, ic * ld + g, ld);
                    }
                }
            }
        }
    }

    /**
     * One K block of a block of rows into C in place: whole register tiles directly, edge tiles through a scratch.
     * Writing C (the first K block), row panel by row panel across all the columns, so that C streams out as MR
     * rows left to right (as in {@link Gemm}); accumulating, column panel by column panel with its B in L1.
     */
    private static void macroDirect(int mc, int ncols, int kc, float[] ap, int ao, int aStep, float[] bp, int bo,
                                    int ic, int j0, Direct direct, float[] tile, boolean add, boolean last) {
        // Onto a residual in C (Direct.accumulates): the first K block adds too, in the first block's order (row panel
        // by row panel: the residual is read as MR rows streaming left to right).
        boolean first = !add;
        add = add || direct.accumulates();
        if (!first) {
            for (int jr = 0; jr < ncols; jr += NR) {
                for (int ir = 0; ir < mc; ir += MR) {
                    directTile(ir, jr, mc, ncols, kc, ap, ao, aStep, bp, bo, ic, j0, direct, tile, true, last);
                }
            }
        } else {
            for (int ir = 0; ir < mc; ir += MR) {
                for (int jr = 0; jr < ncols; jr += NR) {
                    directTile(ir, jr, mc, ncols, kc, ap, ao, aStep, bp, bo, ic, j0, direct, tile, add, last);
                }
            }
        }
    }

    /** One register tile of a K block into C in place; after the last K block, {@link Direct#finish} for it. */
    private static void directTile(int ir, int jr, int mc, int ncols, int kc, float[] ap, int ao, int aStep,
                                   float[] bp, int bo, int ic, int j0, Direct direct, float[] tile, boolean add,
                                   boolean last) {
        int j = j0 + jr;
        int cols = Math.min(NR, ncols - jr);
        float[] d = direct.array(j);
        int ld = direct.ld(j);
        int rows = Math.min(MR, mc - ir);
        int off = direct.offset(ic + ir, j);
        if (rows == MR && cols == NR) {
            Gemm.kernel(kc, ap, ao + ir * aStep, bp, bo + jr * kc, d, off, ld, add);
        } else {
            Gemm.kernel(kc, ap, ao + ir * aStep, bp, bo + jr * kc, tile, 0, NR, false);
            Gemm.storeTile(tile, rows, cols, d, off, ld, add);
        }
        if (last) {
            direct.finish(ic + ir, rows, j, cols);
        }
    }
}
