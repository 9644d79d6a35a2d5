package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Activations, element-wise arithmetic, resizing and concatenation. Inputs may be heap or segment tensors
 * of any dtype (segments are converted to float32 first); outputs are new F32 heap tensors.
 */
public final class Elementwise {
    private static final VectorSpecies<Float> S = VectorFunctions.SPECIES;
    /** Elements per parallel chunk: a multiple of every vector length, big enough to pay for a hand-off. */
    private static final int GRAIN = 1 << 15;

    private static final int SILU = 0, GELU_ERF = 1, GELU_TANH = 2, QUICK_GELU = 3, SCALE = 4;
    private static final int ADD = 0, MUL = 1;

    /** sqrt(2/pi)·2: GELU-tanh is x·sigmoid(2·sqrt(2/pi)·(x + 0.044715·x³)). */
    private static final float GELU_TANH_K = (float) (2 * Math.sqrt(2 / Math.PI));

    private Elementwise() {
    }

    /** See {@link dev.diffusion4j.tensor.Backend#silu}. */
    public static Tensor silu(ComputePool pool, Tensor x) {
        return unary(pool, "silu", x, SILU, 0f);
    }

    /** See {@link dev.diffusion4j.tensor.Backend#gelu}. */
    public static Tensor gelu(ComputePool pool, Tensor x, boolean tanhApproximation) {
        return unary(pool, "gelu", x, tanhApproximation ? GELU_TANH : GELU_ERF, 0f);
    }

    /** See {@link dev.diffusion4j.tensor.Backend#quickGelu}. */
    public static Tensor quickGelu(ComputePool pool, Tensor x) {
        return unary(pool, "quickGelu", x, QUICK_GELU, 0f);
    }

    /** See {@link dev.diffusion4j.tensor.Backend#scale}. */
    public static Tensor scale(ComputePool pool, Tensor a, float s) {
        return unary(pool, "scale", a, SCALE, s);
    }

    private static Tensor unary(ComputePool pool, String op, Tensor x, int kind, float s) {
        Kernels.requireNonNull(op, "x", x);
        Tensor in = Kernels.heap(x);
        int n = Kernels.toInt(in.numel(), op, in);
        float[] src = in.array();
        int so = in.offset();
        Tensor out = Tensor.empty(in.shape());
        float[] dst = out.array();
        int dOff = out.offset();
        pool.parallelFor(n, GRAIN, (from, to) -> applyUnary(kind, s, src, so + from, dst, dOff + from, to - from));
        return out;
    }

    /**
     * Applies activation {@code kind} to {@code n} elements. One loop method per activation: a switch
     * inside a shared loop would make C2 compile every activation into one body, past its inlining
     * limits (the vectors then get boxed). The tail is masked, so there is no scalar path to keep in sync.
     */
    private static void applyUnary(int kind, float s, float[] src, int so, float[] dst, int d0, int n) {
        switch (kind) {
            case SILU -> siluLoop(src, so, dst, d0, n, 1f);
            case QUICK_GELU -> siluLoop(src, so, dst, d0, n, 1.702f);
            case GELU_ERF -> geluErfLoop(src, so, dst, d0, n);
            case GELU_TANH -> geluTanhLoop(src, so, dst, d0, n);
            case SCALE -> scaleLoop(src, so, dst, d0, n, s);
            default -> throw new AssertionError(kind);
        }
    }

    /** {@code x · sigmoid(k·x)}. */
    private static void siluLoop(float[] src, int so, float[] dst, int d0, int n, float k) {
        int step = S.length();
        int i = 0;
        for (; i <= n - step; i += step) {
            VectorFunctions.mulSigmoid(FloatVector.fromArray(S, src, so + i), k).intoArray(dst, d0 + i);
        }
        if (i < n) {
            VectorMask<Float> m = S.indexInRange(i, n);
            VectorFunctions.mulSigmoid(FloatVector.fromArray(S, src, so + i, m), k).intoArray(dst, d0 + i, m);
        }
    }

    private static void geluErfLoop(float[] src, int so, float[] dst, int d0, int n) {
        int step = S.length();
        int i = 0;
        for (; i <= n - step; i += step) {
            VectorFunctions.gelu(FloatVector.fromArray(S, src, so + i)).intoArray(dst, d0 + i);
        }
        if (i < n) {
            VectorMask<Float> m = S.indexInRange(i, n);
            VectorFunctions.gelu(FloatVector.fromArray(S, src, so + i, m)).intoArray(dst, d0 + i, m);
        }
    }

    private static void geluTanhLoop(float[] src, int so, float[] dst, int d0, int n) {
        int step = S.length();
        int i = 0;
        for (; i <= n - step; i += step) {
            geluTanh(FloatVector.fromArray(S, src, so + i)).intoArray(dst, d0 + i);
        }
        if (i < n) {
            VectorMask<Float> m = S.indexInRange(i, n);
            geluTanh(FloatVector.fromArray(S, src, so + i, m)).intoArray(dst, d0 + i, m);
        }
    }

    private static void scaleLoop(float[] src, int so, float[] dst, int d0, int n, float s) {
        int step = S.length();
        int i = 0;
        for (; i <= n - step; i += step) {
            FloatVector.fromArray(S, src, so + i).mul(s).intoArray(dst, d0 + i);
        }
        for (; i < n; i++) {
            dst[d0 + i] = src[so + i] * s;
        }
    }

    /** 0.5·x·(1 + tanh(u)) == x·sigmoid(2u), u = sqrt(2/pi)·(x + 0.044715·x³): no cancellation for negative x. */
    private static FloatVector geluTanh(FloatVector v) {
        FloatVector inner = v.mul(v).fma(0.044715f, 1f).mul(v).mul(GELU_TANH_K);
        return v.div(VectorFunctions.exp(inner.neg()).add(1f));
    }

    /** See {@link dev.diffusion4j.tensor.Backend#geglu}. */
    public static Tensor geglu(ComputePool pool, Tensor x) {
        Kernels.requireNonNull("geglu", "x", x);
        if (x.rank() < 1 || x.dim(-1) % 2 != 0) {
            throw new IllegalArgumentException("geglu: last dimension must be even, got shape " + x.shape());
        }
        Tensor in = Kernels.heap(x);
        int h = in.dim(-1) / 2;
        int[] dims = in.shape().dims();
        dims[dims.length - 1] = h;
        Tensor out = Tensor.empty(dims);
        int rows = Kernels.toInt(in.numel() / Math.max(1, 2L * h), "geglu", in);
        if (h == 0 || rows == 0) {
            return out;
        }
        float[] src = in.array();
        int so = in.offset();
        float[] dst = out.array();
        int dOff = out.offset();
        int grain = Math.max(1, GRAIN / (2 * h));
        pool.parallelFor(rows, grain, (r0, r1) -> {
            int step = S.length();
            int full = h - h % step;
            for (int r = r0; r < r1; r++) {
                int a = so + r * 2 * h;
                int g = a + h;
                int o = dOff + r * h;
                for (int i = 0; i < full; i += step) {
                    FloatVector av = FloatVector.fromArray(S, src, a + i);
                    FloatVector gv = FloatVector.fromArray(S, src, g + i);
                    av.mul(VectorFunctions.gelu(gv)).intoArray(dst, o + i);
                }
                if (full < h) {
                    VectorMask<Float> m = S.indexInRange(full, h);
                    FloatVector av = FloatVector.fromArray(S, src, a + full, m);
                    FloatVector gv = FloatVector.fromArray(S, src, g + full, m);
                    av.mul(VectorFunctions.gelu(gv)).intoArray(dst, o + full, m);
                }
            }
        });
        return out;
    }

    /**
     * See {@link dev.diffusion4j.tensor.Backend#upsampleNearest}. Source indices follow PyTorch's
     * 'nearest' mode: {@code min(floor(dst · ((float) in / out)), in - 1)} in float arithmetic. That is the
     * exact {@code floor(dst · in / out)} for out = in, 2·in and 2·in ± 1 (the UNet's sizes); for some other
     * ratios float rounding makes it one less, and we keep PyTorch's result.
     */
    public static Tensor upsampleNearest(ComputePool pool, Tensor x, int outH, int outW) {
        Kernels.requireNonNull("upsampleNearest", "x", x);
        if (x.rank() != 4 || outH <= 0 || outW <= 0) {
            throw new IllegalArgumentException("upsampleNearest: needs [N, C, H, W] input and positive output size, got "
                    + x.shape() + " to (" + outH + ", " + outW + ")");
        }
        Tensor in = Kernels.heap(x);
        int nc = in.dim(0) * in.dim(1);
        int h = in.dim(2);
        int w = in.dim(3);
        Tensor out = Tensor.empty(in.dim(0), in.dim(1), outH, outW);
        if (nc == 0) {
            return out;
        }
        if (h == 0 || w == 0) {
            throw new IllegalArgumentException("upsampleNearest: empty input " + x.shape() + " to (" + outH + ", " + outW + ")");
        }
        int[] srcY = nearestIndex(h, outH);
        int[] srcX = nearestIndex(w, outW);
        float[] src = in.array();
        int so = in.offset();
        float[] dst = out.array();
        int dOff = out.offset();
        int rows = Math.multiplyExact(nc, outH);
        boolean twice = outW == 2 * w;
        pool.parallelFor(rows, Math.max(1, GRAIN / outW), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int plane = r / outH;
                int oy = r - plane * outH;
                int srow = so + (plane * h + srcY[oy]) * w;
                int drow = dOff + r * outW;
                if (r > r0 && oy > 0 && srcY[oy] == srcY[oy - 1]) {
                    // same source row as the previous output row (every other row at 2x): copy it
                    System.arraycopy(dst, drow - outW, dst, drow, outW);
                } else if (twice) {
                    doubleRow(src, srow, dst, drow, w);
                } else {
                    for (int ox = 0; ox < outW; ox++) {
                        dst[drow + ox] = src[srow + srcX[ox]];
                    }
                }
            }
        });
        return out;
    }

    /** Lane shuffles that repeat each element twice: lanes 0..L/2-1 and L/2..L-1 of the source. */
    private static final VectorShuffle<Float> DUP_LO = VectorShuffle.fromOp(S, i -> i / 2);
    private static final VectorShuffle<Float> DUP_HI = VectorShuffle.fromOp(S, i -> (S.length() + i) / 2);

    /** {@code dst[d0 + 2i] = dst[d0 + 2i + 1] = src[s0 + i]} for {@code i < w}. */
    static void doubleRow(float[] src, int s0, float[] dst, int d0, int w) {
        int step = S.length();
        int i = 0;
        for (; i <= w - step; i += step) {
            FloatVector v = FloatVector.fromArray(S, src, s0 + i);
            v.rearrange(DUP_LO).intoArray(dst, d0 + 2 * i);
            v.rearrange(DUP_HI).intoArray(dst, d0 + 2 * i + step);
        }
        for (; i < w; i++) {
            float v = src[s0 + i];
            dst[d0 + 2 * i] = v;
            dst[d0 + 2 * i + 1] = v;
        }
    }

    /** PyTorch's nearest source index per output index ({@code aten/src/ATen/native/UpSample.h}: float scale). */
    static int[] nearestIndex(int in, int out) {
        int[] idx = new int[out];
        float scale = (float) in / out;
        for (int o = 0; o < out; o++) {
            idx[o] = out == in ? o : out == 2 * in ? o >> 1 : Math.min((int) Math.floor(o * scale), in - 1);
        }
        return idx;
    }

    /** See {@link dev.diffusion4j.tensor.Backend#add}. */
    public static Tensor add(ComputePool pool, Tensor a, Tensor b) {
        return binary(pool, "add", a, b, ADD);
    }

    /** See {@link dev.diffusion4j.tensor.Backend#mul}. */
    public static Tensor mul(ComputePool pool, Tensor a, Tensor b) {
        return binary(pool, "mul", a, b, MUL);
    }

    /**
     * {@code a op b} with {@code b} broadcast to {@code a}'s shape (right-aligned; each of {@code b}'s
     * dimensions equals {@code a}'s or is 1; extra leading dimensions of {@code b} must be 1). The iteration space is collapsed into runs of dimensions
     * that are either all broadcast or all matching, so the inner loop is a vector op over a contiguous
     * run of {@code b} or against one broadcast scalar.
     */
    private static Tensor binary(ComputePool pool, String op, Tensor a, Tensor b, int kind) {
        Kernels.requireNonNull(op, "a", a);
        Kernels.requireNonNull(op, "b", b);
        int ra = a.rank();
        int rb = b.rank();
        // b may have extra leading dimensions only when they are 1 (the output always has a's shape)
        for (int d = 0; d < rb - ra; d++) {
            if (b.dim(d) != 1) {
                throw new IllegalArgumentException(op + ": cannot broadcast " + b.shape() + " to " + a.shape());
            }
        }
        // collapse: (size, bFull) runs; dims of size 1 in a are dropped
        int[] sizes = new int[ra];
        boolean[] full = new boolean[ra];
        int runs = 0;
        for (int d = 0; d < ra; d++) {
            int da = a.dim(d);
            int bd = d - (ra - rb);
            int db = bd < 0 ? 1 : b.dim(bd);
            if (db != da && db != 1) {
                throw new IllegalArgumentException(op + ": cannot broadcast " + b.shape() + " to " + a.shape());
            }
            if (da == 1) {
                continue;
            }
            boolean f = db == da;
            if (runs > 0 && full[runs - 1] == f) {
                sizes[runs - 1] = Math.multiplyExact(sizes[runs - 1], da);
            } else {
                sizes[runs] = da;
                full[runs] = f;
                runs++;
            }
        }
        Tensor ah = Kernels.heap(a);
        Tensor bh = Kernels.heap(b);
        Tensor out = Tensor.empty(a.shape());
        int n = Kernels.toInt(a.numel(), op, a);
        if (n == 0) {
            return out;
        }
        if (runs == 0) {
            // every dimension is 1: a single element
            out.array()[out.offset()] = kind == ADD ? ah.array()[ah.offset()] + bh.array()[bh.offset()]
                    : ah.array()[ah.offset()] * bh.array()[bh.offset()];
            return out;
        }
        int inner = sizes[runs - 1];
        boolean innerFull = full[runs - 1];
        int outer = n / inner;
        // b's stride for each collapsed outer dimension (0 where broadcast)
        int[] outerSizes = Arrays.copyOf(sizes, runs - 1);
        int[] bStrides = new int[runs - 1];
        int stride = innerFull ? inner : 1;
        for (int d = runs - 2; d >= 0; d--) {
            bStrides[d] = full[d] ? stride : 0;
            if (full[d]) {
                stride *= sizes[d];
            }
        }
        float[] as = ah.array();
        int ao = ah.offset();
        float[] bs = bh.array();
        int bo = bh.offset();
        float[] dst = out.array();
        int dOff = out.offset();
        // long inner runs (e.g. same shapes) are split too, so one big run still uses every thread
        int pieces = (inner + GRAIN - 1) / GRAIN;
        int tasks = Math.multiplyExact(outer, pieces);
        int taskGrain = pieces == 1 ? Math.max(1, GRAIN / inner) : 1;
        pool.parallelFor(tasks, taskGrain, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                int o = t / pieces;
                int from = (t - o * pieces) * GRAIN;
                int len = Math.min(inner - from, GRAIN);
                // b offset of outer index o (mixed radix over the collapsed outer dims)
                int rem = o;
                int boff = bo;
                for (int d = outerSizes.length - 1; d >= 0; d--) {
                    int q = rem / outerSizes[d];
                    boff += (rem - q * outerSizes[d]) * bStrides[d];
                    rem = q;
                }
                int base = o * inner + from;
                if (innerFull) {
                    binaryRun(kind, as, ao + base, bs, boff + from, dst, dOff + base, len);
                } else {
                    binaryScalar(kind, as, ao + base, bs[boff], dst, dOff + base, len);
                }
            }
        });
        return out;
    }

    private static void binaryRun(int kind, float[] a, int ao, float[] b, int bo, float[] dst, int d0, int n) {
        int step = S.length();
        int i = 0;
        for (; i <= n - step; i += step) {
            FloatVector x = FloatVector.fromArray(S, a, ao + i);
            FloatVector y = FloatVector.fromArray(S, b, bo + i);
            (kind == ADD ? x.add(y) : x.mul(y)).intoArray(dst, d0 + i);
        }
        for (; i < n; i++) {
            dst[d0 + i] = kind == ADD ? a[ao + i] + b[bo + i] : a[ao + i] * b[bo + i];
        }
    }

    private static void binaryScalar(int kind, float[] a, int ao, float s, float[] dst, int d0, int n) {
        int step = S.length();
        int i = 0;
        for (; i <= n - step; i += step) {
            FloatVector x = FloatVector.fromArray(S, a, ao + i);
            (kind == ADD ? x.add(s) : x.mul(s)).intoArray(dst, d0 + i);
        }
        for (; i < n; i++) {
            dst[d0 + i] = kind == ADD ? a[ao + i] + s : a[ao + i] * s;
        }
    }

    /**
     * See {@link dev.diffusion4j.tensor.Backend#concatChannels}; the copies are split over {@code pool} in pieces of at
     * least {@link #CONCAT_PIECE} floats (on one thread, the U-Net's concatenations took about 7 ms of a step).
     */
    public static Tensor concatChannels(ComputePool pool, Tensor a, Tensor b) {
        Kernels.requireNonNull("concatChannels", "a", a);
        Kernels.requireNonNull("concatChannels", "b", b);
        boolean ok = a.rank() >= 2 && a.rank() == b.rank() && a.dim(0) == b.dim(0);
        for (int d = 2; ok && d < a.rank(); d++) {
            ok = a.dim(d) == b.dim(d);
        }
        if (!ok) {
            throw new IllegalArgumentException("concatChannels: shapes must match except in dimension 1 (rank >= 2), got "
                    + a.shape() + " and " + b.shape());
        }
        int[] dims = a.shape().dims();
        dims[1] = Math.addExact(a.dim(1), b.dim(1));
        Tensor out = Tensor.empty(Shape.of(dims));
        Tensor ah = Kernels.heap(a);
        Tensor bh = Kernels.heap(b);
        int batch = a.dim(0);
        int la = Kernels.toInt(a.shape().product(1, a.rank()), "concatChannels", a);
        int lb = Kernels.toInt(b.shape().product(1, b.rank()), "concatChannels", b);
        float[] dst = out.array();
        int dOff = out.offset();
        // Pieces of each image's two parts, as many per part as its length allows.
        int pa = Math.max(1, la / CONCAT_PIECE);
        int pb = Math.max(1, lb / CONCAT_PIECE);
        int perImage = pa + pb;
        pool.parallelFor(batch * perImage, 1, (from, to) -> {
            for (int t = from; t < to; t++) {
                int n = t / perImage;
                int q = t % perImage;
                boolean first = q < pa;
                int len = first ? la : lb;
                int pieces = first ? pa : pb;
                int p = first ? q : q - pa;
                int s0 = (int) ((long) len * p / pieces);
                int s1 = (int) ((long) len * (p + 1) / pieces);
                Tensor src = first ? ah : bh;
                int o = dOff + n * (la + lb) + (first ? 0 : la);
                System.arraycopy(src.array(), src.offset() + n * len + s0, dst, o + s0, s1 - s0);
            }
        });
        return out;
    }

    /** Smallest piece (floats) of a parallel concatenation. */
    private static final int CONCAT_PIECE = 1 << 16;
}
