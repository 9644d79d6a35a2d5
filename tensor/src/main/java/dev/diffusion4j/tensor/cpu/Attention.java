package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Multi-head scaled dot-product attention in tiles with an online softmax (flash-attention style).
 *
 * <p>Per (batch, head) the keys are packed once, transposed in blocks of {@code BK} keys ({@code [c][key]}, so
 * the score micro-kernel vectorises along keys), and the values are packed row-major with the head
 * dimension padded to the vector length (so the P·V micro-kernel needs no masks). Each task then owns
 * one block of {@code BQ} query rows of one head: it walks the key blocks, computes a {@code BQ × BK}
 * score tile, updates a running row maximum and (lane-wise) row sum in base 2, rescales its
 * accumulator when the maximum grows, and accumulates P·V. The tokens × tokens score matrix never
 * exists; extra memory is one packed copy of K and V plus a few tiles per thread.
 *
 * <p>Scores are kept in base 2: q is pre-multiplied by {@code scale · log2(e)} so the softmax needs
 * {@code 2^x}, computed by {@link #exp2} (range reduction to {@code [-0.5, 0.5]}, degree-7 polynomial).
 */
public final class Attention {
    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final int L = SP.length();
    /** Keys per block (4 vectors: the widest score micro-kernel). Also the row stride of a score tile. */
    private static final int BK = 4 * L;
    private static final int SW = BK;
    /** Query rows per task (a multiple of 4, the micro-kernels' row count, and of L). */
    private static final int BQ = Math.max(64, L);
    private static final float LOG2E = 1.4426950408889634f;

    private Attention() {
    }

    /** See {@link dev.diffusion4j.tensor.Backend#attention}. */
    public static Tensor attention(ComputePool pool, Tensor q, Tensor k, Tensor v, int heads, float scale, boolean causal) {
        if (q.rank() != 3 || k.rank() != 3 || v.rank() != 3) {
            throw new IllegalArgumentException("attention: q, k, v must be [B, T, C], got q " + q.shape()
                    + ", k " + k.shape() + ", v " + v.shape());
        }
        int batch = q.dim(0);
        int tq = q.dim(1);
        int channels = q.dim(2);
        int tk = k.dim(1);
        if (k.dim(0) != batch || v.dim(0) != batch) {
            throw new IllegalArgumentException("attention: batch sizes differ: q " + q.shape() + ", k " + k.shape()
                    + ", v " + v.shape());
        }
        if (k.dim(2) != channels || v.dim(2) != channels) {
            throw new IllegalArgumentException("attention: channel counts differ: q " + q.shape() + ", k " + k.shape()
                    + ", v " + v.shape());
        }
        if (v.dim(1) != tk) {
            throw new IllegalArgumentException("attention: k and v token counts differ: k " + k.shape()
                    + ", v " + v.shape());
        }
        if (heads < 1 || channels % heads != 0) {
            throw new IllegalArgumentException("attention: channels " + channels + " of q " + q.shape()
                    + " are not divisible by heads=" + heads);
        }
        if (causal && tq != tk) {
            throw new IllegalArgumentException("attention: causal needs as many queries as keys, got q " + q.shape()
                    + ", k " + k.shape());
        }
        if (tk == 0 && tq > 0) {
            throw new IllegalArgumentException("attention: no keys: k " + k.shape() + " for q " + q.shape());
        }
        Tensor out = Tensor.zeros(Shape.of(batch, tq, channels));
        if (batch == 0 || tq == 0 || channels == 0) {
            return out;
        }
        Tensor qh = heap(q);
        Tensor kh = heap(k);
        Tensor vh = heap(v);
        int d = channels / heads;
        int dPad = (d + L - 1) / L * L;
        int tkPad = (tk + L - 1) / L * L;
        int nHeads = batch * heads;
        long ktSize = (long) nHeads * tkPad * d;
        long vpSize = (long) nHeads * tkPad * dPad;
        if (vpSize > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("attention: k/v " + k.shape() + " with heads=" + heads
                    + " too large to pack (" + vpSize + " elements)");
        }
        float[] kt = new float[(int) ktSize];
        float[] vp = new float[(int) vpSize];
        int kBlocks = (tkPad + BK - 1) / BK;
        Geometry g = new Geometry(heads, d, dPad, channels, tq, tk, tkPad, causal, scale * LOG2E);

        // Phase 1: pack K (transposed per key block) and V (padded rows) of every (batch, head).
        pool.parallelFor(nHeads * kBlocks, (from, to) -> {
            for (int t = from; t < to; t++) {
                packKv(g, kh, vh, t / kBlocks, t % kBlocks, kt, vp);
            }
        });

        // Phase 2: one task per (batch, head, query block).
        int qBlocks = (tq + BQ - 1) / BQ;
        int tasks = nHeads * qBlocks;
        // Causal tasks differ in cost; small chunks keep both threads busy to the end.
        int grain = Math.max(1, Math.min(causal ? 1 : 8, tasks / (8 * pool.threads())));
        pool.parallelFor(tasks, grain, (from, to) -> {
            Scratch sc = new Scratch(g);
            for (int t = from; t < to; t++) {
                int hd = t / qBlocks;
                int qb = t % qBlocks;
                queryBlock(g, sc, qh, kt, vp, out, hd, qb);
            }
        });
        return out;
    }

    private static Tensor heap(Tensor t) {
        return t.isHeap() ? t : t.toHeapF32();
    }

    /** Sizes shared by every task of one call. */
    private record Geometry(int heads, int d, int dPad, int channels, int tq, int tk, int tkPad,
                            boolean causal, float qScale) {
    }

    /** Per-thread tiles. */
    private static final class Scratch {
        final float[] qp;
        final float[] s = new float[BQ * SW];
        final float[] acc;
        final float[] rowMax = new float[BQ];
        final float[] m = new float[BQ];
        final float[] alpha = new float[BQ];
        final float[] lsum = new float[BQ * L];

        Scratch(Geometry g) {
            qp = new float[BQ * g.d()];
            acc = new float[BQ * g.dPad()];
        }
    }

    private static void packKv(Geometry g, Tensor k, Tensor v, int hd, int kb, float[] kt, float[] vp) {
        int d = g.d();
        int dPad = g.dPad();
        int b = hd / g.heads();
        int h = hd % g.heads();
        int ks = kb * BK;
        int w = Math.min(BK, g.tkPad() - ks);
        int ktBase = hd * g.tkPad() * d + ks * d;
        int vpBase = hd * g.tkPad() * dPad;
        float[] ka = k.array();
        float[] va = v.array();
        int jEnd = Math.min(ks + w, g.tk());
        for (int j = ks; j < jEnd; j++) {
            int src = k.offset() + (b * g.tk() + j) * g.channels() + h * d;
            int dst = ktBase + (j - ks);
            for (int c = 0; c < d; c++) {
                kt[dst + c * w] = ka[src + c];
            }
            System.arraycopy(va, v.offset() + (b * g.tk() + j) * g.channels() + h * d, vp, vpBase + j * dPad, d);
        }
        // Padded keys (j >= tk) stay zero; their scores are masked to -inf.
    }

    private static void queryBlock(Geometry g, Scratch sc, Tensor q, float[] kt, float[] vp, Tensor out,
                                   int hd, int qb) {
        int d = g.d();
        int dPad = g.dPad();
        int b = hd / g.heads();
        int h = hd % g.heads();
        int qs = qb * BQ;
        int rows = Math.min(BQ, g.tq() - qs);
        int rows4 = (rows + 3) & ~3;
        float[] qp = sc.qp;
        float[] s = sc.s;
        float[] acc = sc.acc;
        float[] m = sc.m;
        float[] alpha = sc.alpha;
        float[] rowMax = sc.rowMax;
        float[] lsum = sc.lsum;

        // Pack the query rows, pre-scaled into base-2 logits; pad rows to a multiple of 4 with zeros.
        float[] qa = q.array();
        float qScale = g.qScale();
        for (int r = 0; r < rows; r++) {
            int src = q.offset() + (b * g.tq() + qs + r) * g.channels() + h * d;
            int dst = r * d;
            for (int c = 0; c < d; c++) {
                qp[dst + c] = qa[src + c] * qScale;
            }
        }
        java.util.Arrays.fill(qp, rows * d, rows4 * d, 0f);
        java.util.Arrays.fill(acc, 0, rows4 * dPad, 0f);
        java.util.Arrays.fill(m, Float.NEGATIVE_INFINITY);
        java.util.Arrays.fill(lsum, 0f);

        int kEnd = g.causal() ? Math.min(g.tkPad(), qs + rows) : g.tkPad();
        int ktHead = hd * g.tkPad() * d;
        int vpHead = hd * g.tkPad() * dPad;
        for (int ks = 0; ks < kEnd; ks += BK) {
            int w = Math.min(BK, g.tkPad() - ks);
            int nv = w / L;
            int ko = ktHead + ks * d;
            // Scores S = Qp · Kt for this key block.
            for (int r = 0; r < rows4; r += 4) {
                int qo = r * d;
                int so = r * SW;
                switch (nv) {
                    case 4 -> qk4x4(qp, qo, d, kt, ko, w, s, so);
                    case 3 -> qk4x3(qp, qo, d, kt, ko, w, s, so);
                    case 2 -> qk4x2(qp, qo, d, kt, ko, w, s, so);
                    default -> qk4x1(qp, qo, d, kt, ko, w, s, so);
                }
            }
            // Mask padded keys and, for causal attention, keys after the query.
            boolean padMask = ks + w > g.tk();
            boolean causalMask = g.causal() && ks + w - 1 > qs;
            for (int r = 0; r < rows4; r++) {
                int so = r * SW;
                if (padMask || causalMask) {
                    int limit = g.tk() - ks;
                    if (g.causal()) {
                        limit = Math.min(limit, qs + r - ks + 1);
                    }
                    for (int j = Math.max(limit, 0); j < w; j++) {
                        s[so + j] = Float.NEGATIVE_INFINITY;
                    }
                }
                FloatVector mx = FloatVector.fromArray(SP, s, so);
                for (int j = L; j < w; j += L) {
                    mx = mx.max(FloatVector.fromArray(SP, s, so + j));
                }
                rowMax[r] = mx.reduceLanes(jdk.incubator.vector.VectorOperators.MAX);
            }
            // New running maxima and the factors that rescale what was accumulated so far.
            for (int r = 0; r < rows4; r += L) {
                FloatVector mOld = FloatVector.fromArray(SP, m, r);
                FloatVector mNew = mOld.max(FloatVector.fromArray(SP, rowMax, r));
                // A row with no visible key yet keeps m = -inf: use 0 as its base so exp2 gives 0, not NaN.
                VectorMask<Float> none = mNew.eq(Float.NEGATIVE_INFINITY);
                mNew = mNew.blend(0f, none);
                exp2(mOld.sub(mNew)).intoArray(alpha, r);
                mNew.intoArray(m, r);
            }
            // P = 2^(S - m), in place; lane-wise row sums.
            for (int r = 0; r < rows4; r++) {
                int so = r * SW;
                FloatVector mb = FloatVector.broadcast(SP, m[r]);
                FloatVector sum = FloatVector.zero(SP);
                for (int j = 0; j < w; j += L) {
                    FloatVector p = exp2(FloatVector.fromArray(SP, s, so + j).sub(mb));
                    p.intoArray(s, so + j);
                    sum = sum.add(p);
                }
                FloatVector.fromArray(SP, lsum, r * L).fma(FloatVector.broadcast(SP, alpha[r]), sum)
                        .intoArray(lsum, r * L);
            }
            // acc = acc·alpha + P · V for this key block.
            int vo = vpHead + ks * dPad;
            for (int r = 0; r < rows4; r += 4) {
                int po = r * SW;
                int ao = r * dPad;
                int c = 0;
                for (; c + 4 * L <= dPad; c += 4 * L) {
                    pv4x4(s, po, vp, vo + c, dPad, w, acc, ao + c, alpha, r);
                }
                switch ((dPad - c) / L) {
                    case 3 -> pv4x3(s, po, vp, vo + c, dPad, w, acc, ao + c, alpha, r);
                    case 2 -> pv4x2(s, po, vp, vo + c, dPad, w, acc, ao + c, alpha, r);
                    case 1 -> pv4x1(s, po, vp, vo + c, dPad, w, acc, ao + c, alpha, r);
                    default -> {
                    }
                }
            }
        }
        // out = acc / l
        float[] oa = out.array();
        int dFull = d / L * L;
        for (int r = 0; r < rows; r++) {
            float inv = 1f / FloatVector.fromArray(SP, lsum, r * L).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
            int dst = (b * g.tq() + qs + r) * g.channels() + h * d;
            int ao = r * dPad;
            int c = 0;
            for (; c < dFull; c += L) {
                FloatVector.fromArray(SP, acc, ao + c).mul(inv).intoArray(oa, dst + c);
            }
            for (; c < d; c++) {
                oa[dst + c] = acc[ao + c] * inv;
            }
        }
    }

    private static final float MAGIC = 12582912f; // 1.5 · 2^23: adding it rounds to an integer in the low bits
    private static final float C1 = 0.6931471805599453f;
    private static final float C2 = 0.2402265069591007f;
    private static final float C3 = 0.05550410866482158f;
    private static final float C4 = 0.009618129107628477f;
    private static final float C5 = 0.0013333558146428443f;
    private static final float C6 = 1.5403530393381606e-4f;
    private static final float C7 = 1.525273380405984e-5f;

    /**
     * {@code 2^x} lane-wise, within a few ulp for {@code x} in {@code [-126, 127]}; 0 below -126 (and for
     * -inf), +inf above 128. x = n + f with n an integer and |f| ≤ 0.5; 2^f by its degree-7 Taylor
     * polynomial (truncation error below 1e-8), 2^n built in the exponent bits.
     */
    static FloatVector exp2(FloatVector x) {
        FloatVector xc = x.max(-126f).min(127f);
        FloatVector t = xc.add(MAGIC);
        FloatVector n = t.sub(MAGIC);
        FloatVector f = xc.sub(n);
        FloatVector p = FloatVector.broadcast(SP, C7)
                .fma(f, FloatVector.broadcast(SP, C6))
                .fma(f, FloatVector.broadcast(SP, C5))
                .fma(f, FloatVector.broadcast(SP, C4))
                .fma(f, FloatVector.broadcast(SP, C3))
                .fma(f, FloatVector.broadcast(SP, C2))
                .fma(f, FloatVector.broadcast(SP, C1))
                .fma(f, FloatVector.broadcast(SP, 1f));
        // Low bits of t hold n (two's complement, |n| < 2^22); shifting n + 127 into the exponent field
        // drops the magic constant's bits.
        IntVector bits = ((IntVector) t.reinterpretAsInts()).add(127).lanewise(jdk.incubator.vector.VectorOperators.LSHL, 23);
        FloatVector r = p.mul((FloatVector) bits.reinterpretAsFloats());
        r = r.blend(0f, x.lt(-126f));
        return r.blend(Float.POSITIVE_INFINITY, x.compare(jdk.incubator.vector.VectorOperators.GT, 128f));
    }

    /** Scalar twin of {@link #exp2(FloatVector)} for tests. */
    static float exp2(float x) {
        return exp2(FloatVector.broadcast(SP, x)).lane(0);
    }

    /** S[4 rows][4·L keys] = Qp rows · Kt block (contraction over c &lt; d). */
    private static void qk4x4(float[] qp, int qo, int d, float[] kt, int ko, int kw, float[] s, int so) {
        FloatVector a00 = FloatVector.zero(SP);
        FloatVector a01 = FloatVector.zero(SP);
        FloatVector a02 = FloatVector.zero(SP);
        FloatVector a03 = FloatVector.zero(SP);
        FloatVector a10 = FloatVector.zero(SP);
        FloatVector a11 = FloatVector.zero(SP);
        FloatVector a12 = FloatVector.zero(SP);
        FloatVector a13 = FloatVector.zero(SP);
        FloatVector a20 = FloatVector.zero(SP);
        FloatVector a21 = FloatVector.zero(SP);
        FloatVector a22 = FloatVector.zero(SP);
        FloatVector a23 = FloatVector.zero(SP);
        FloatVector a30 = FloatVector.zero(SP);
        FloatVector a31 = FloatVector.zero(SP);
        FloatVector a32 = FloatVector.zero(SP);
        FloatVector a33 = FloatVector.zero(SP);
        for (int c = 0, kc = ko; c < d; c++, kc += kw) {
            FloatVector k0 = FloatVector.fromArray(SP, kt, kc);
            FloatVector k1 = FloatVector.fromArray(SP, kt, kc + 1 * L);
            FloatVector k2 = FloatVector.fromArray(SP, kt, kc + 2 * L);
            FloatVector k3 = FloatVector.fromArray(SP, kt, kc + 3 * L);
            FloatVector q0 = FloatVector.broadcast(SP, qp[qo + 0 * d + c]);
            a00 = k0.fma(q0, a00);
            a01 = k1.fma(q0, a01);
            a02 = k2.fma(q0, a02);
            a03 = k3.fma(q0, a03);
            FloatVector q1 = FloatVector.broadcast(SP, qp[qo + 1 * d + c]);
            a10 = k0.fma(q1, a10);
            a11 = k1.fma(q1, a11);
            a12 = k2.fma(q1, a12);
            a13 = k3.fma(q1, a13);
            FloatVector q2 = FloatVector.broadcast(SP, qp[qo + 2 * d + c]);
            a20 = k0.fma(q2, a20);
            a21 = k1.fma(q2, a21);
            a22 = k2.fma(q2, a22);
            a23 = k3.fma(q2, a23);
            FloatVector q3 = FloatVector.broadcast(SP, qp[qo + 3 * d + c]);
            a30 = k0.fma(q3, a30);
            a31 = k1.fma(q3, a31);
            a32 = k2.fma(q3, a32);
            a33 = k3.fma(q3, a33);
        }
        a00.intoArray(s, so + 0 * SW);
        a01.intoArray(s, so + 0 * SW + 1 * L);
        a02.intoArray(s, so + 0 * SW + 2 * L);
        a03.intoArray(s, so + 0 * SW + 3 * L);
        a10.intoArray(s, so + 1 * SW);
        a11.intoArray(s, so + 1 * SW + 1 * L);
        a12.intoArray(s, so + 1 * SW + 2 * L);
        a13.intoArray(s, so + 1 * SW + 3 * L);
        a20.intoArray(s, so + 2 * SW);
        a21.intoArray(s, so + 2 * SW + 1 * L);
        a22.intoArray(s, so + 2 * SW + 2 * L);
        a23.intoArray(s, so + 2 * SW + 3 * L);
        a30.intoArray(s, so + 3 * SW);
        a31.intoArray(s, so + 3 * SW + 1 * L);
        a32.intoArray(s, so + 3 * SW + 2 * L);
        a33.intoArray(s, so + 3 * SW + 3 * L);
    }

    /** S[4 rows][3·L keys] = Qp rows · Kt block (contraction over c &lt; d). */
    private static void qk4x3(float[] qp, int qo, int d, float[] kt, int ko, int kw, float[] s, int so) {
        FloatVector a00 = FloatVector.zero(SP);
        FloatVector a01 = FloatVector.zero(SP);
        FloatVector a02 = FloatVector.zero(SP);
        FloatVector a10 = FloatVector.zero(SP);
        FloatVector a11 = FloatVector.zero(SP);
        FloatVector a12 = FloatVector.zero(SP);
        FloatVector a20 = FloatVector.zero(SP);
        FloatVector a21 = FloatVector.zero(SP);
        FloatVector a22 = FloatVector.zero(SP);
        FloatVector a30 = FloatVector.zero(SP);
        FloatVector a31 = FloatVector.zero(SP);
        FloatVector a32 = FloatVector.zero(SP);
        for (int c = 0, kc = ko; c < d; c++, kc += kw) {
            FloatVector k0 = FloatVector.fromArray(SP, kt, kc);
            FloatVector k1 = FloatVector.fromArray(SP, kt, kc + 1 * L);
            FloatVector k2 = FloatVector.fromArray(SP, kt, kc + 2 * L);
            FloatVector q0 = FloatVector.broadcast(SP, qp[qo + 0 * d + c]);
            a00 = k0.fma(q0, a00);
            a01 = k1.fma(q0, a01);
            a02 = k2.fma(q0, a02);
            FloatVector q1 = FloatVector.broadcast(SP, qp[qo + 1 * d + c]);
            a10 = k0.fma(q1, a10);
            a11 = k1.fma(q1, a11);
            a12 = k2.fma(q1, a12);
            FloatVector q2 = FloatVector.broadcast(SP, qp[qo + 2 * d + c]);
            a20 = k0.fma(q2, a20);
            a21 = k1.fma(q2, a21);
            a22 = k2.fma(q2, a22);
            FloatVector q3 = FloatVector.broadcast(SP, qp[qo + 3 * d + c]);
            a30 = k0.fma(q3, a30);
            a31 = k1.fma(q3, a31);
            a32 = k2.fma(q3, a32);
        }
        a00.intoArray(s, so + 0 * SW);
        a01.intoArray(s, so + 0 * SW + 1 * L);
        a02.intoArray(s, so + 0 * SW + 2 * L);
        a10.intoArray(s, so + 1 * SW);
        a11.intoArray(s, so + 1 * SW + 1 * L);
        a12.intoArray(s, so + 1 * SW + 2 * L);
        a20.intoArray(s, so + 2 * SW);
        a21.intoArray(s, so + 2 * SW + 1 * L);
        a22.intoArray(s, so + 2 * SW + 2 * L);
        a30.intoArray(s, so + 3 * SW);
        a31.intoArray(s, so + 3 * SW + 1 * L);
        a32.intoArray(s, so + 3 * SW + 2 * L);
    }

    /** S[4 rows][2·L keys] = Qp rows · Kt block (contraction over c &lt; d). */
    private static void qk4x2(float[] qp, int qo, int d, float[] kt, int ko, int kw, float[] s, int so) {
        FloatVector a00 = FloatVector.zero(SP);
        FloatVector a01 = FloatVector.zero(SP);
        FloatVector a10 = FloatVector.zero(SP);
        FloatVector a11 = FloatVector.zero(SP);
        FloatVector a20 = FloatVector.zero(SP);
        FloatVector a21 = FloatVector.zero(SP);
        FloatVector a30 = FloatVector.zero(SP);
        FloatVector a31 = FloatVector.zero(SP);
        for (int c = 0, kc = ko; c < d; c++, kc += kw) {
            FloatVector k0 = FloatVector.fromArray(SP, kt, kc);
            FloatVector k1 = FloatVector.fromArray(SP, kt, kc + 1 * L);
            FloatVector q0 = FloatVector.broadcast(SP, qp[qo + 0 * d + c]);
            a00 = k0.fma(q0, a00);
            a01 = k1.fma(q0, a01);
            FloatVector q1 = FloatVector.broadcast(SP, qp[qo + 1 * d + c]);
            a10 = k0.fma(q1, a10);
            a11 = k1.fma(q1, a11);
            FloatVector q2 = FloatVector.broadcast(SP, qp[qo + 2 * d + c]);
            a20 = k0.fma(q2, a20);
            a21 = k1.fma(q2, a21);
            FloatVector q3 = FloatVector.broadcast(SP, qp[qo + 3 * d + c]);
            a30 = k0.fma(q3, a30);
            a31 = k1.fma(q3, a31);
        }
        a00.intoArray(s, so + 0 * SW);
        a01.intoArray(s, so + 0 * SW + 1 * L);
        a10.intoArray(s, so + 1 * SW);
        a11.intoArray(s, so + 1 * SW + 1 * L);
        a20.intoArray(s, so + 2 * SW);
        a21.intoArray(s, so + 2 * SW + 1 * L);
        a30.intoArray(s, so + 3 * SW);
        a31.intoArray(s, so + 3 * SW + 1 * L);
    }

    /** S[4 rows][1·L keys] = Qp rows · Kt block (contraction over c &lt; d). */
    private static void qk4x1(float[] qp, int qo, int d, float[] kt, int ko, int kw, float[] s, int so) {
        FloatVector a00 = FloatVector.zero(SP);
        FloatVector a10 = FloatVector.zero(SP);
        FloatVector a20 = FloatVector.zero(SP);
        FloatVector a30 = FloatVector.zero(SP);
        for (int c = 0, kc = ko; c < d; c++, kc += kw) {
            FloatVector k0 = FloatVector.fromArray(SP, kt, kc);
            FloatVector q0 = FloatVector.broadcast(SP, qp[qo + 0 * d + c]);
            a00 = k0.fma(q0, a00);
            FloatVector q1 = FloatVector.broadcast(SP, qp[qo + 1 * d + c]);
            a10 = k0.fma(q1, a10);
            FloatVector q2 = FloatVector.broadcast(SP, qp[qo + 2 * d + c]);
            a20 = k0.fma(q2, a20);
            FloatVector q3 = FloatVector.broadcast(SP, qp[qo + 3 * d + c]);
            a30 = k0.fma(q3, a30);
        }
        a00.intoArray(s, so + 0 * SW);
        a10.intoArray(s, so + 1 * SW);
        a20.intoArray(s, so + 2 * SW);
        a30.intoArray(s, so + 3 * SW);
    }

    /** O[4 rows][4·L cols] = O·alpha + P rows · V block rows (contraction over j &lt; w). */
    private static void pv4x4(float[] p, int po, float[] vp, int vo, int dPad, int w,
                                 float[] acc, int ao, float[] alpha, int ro) {
        FloatVector s0 = FloatVector.broadcast(SP, alpha[ro + 0]);
        FloatVector a00 = FloatVector.fromArray(SP, acc, ao + 0 * dPad).mul(s0);
        FloatVector a01 = FloatVector.fromArray(SP, acc, ao + 0 * dPad + 1 * L).mul(s0);
        FloatVector a02 = FloatVector.fromArray(SP, acc, ao + 0 * dPad + 2 * L).mul(s0);
        FloatVector a03 = FloatVector.fromArray(SP, acc, ao + 0 * dPad + 3 * L).mul(s0);
        FloatVector s1 = FloatVector.broadcast(SP, alpha[ro + 1]);
        FloatVector a10 = FloatVector.fromArray(SP, acc, ao + 1 * dPad).mul(s1);
        FloatVector a11 = FloatVector.fromArray(SP, acc, ao + 1 * dPad + 1 * L).mul(s1);
        FloatVector a12 = FloatVector.fromArray(SP, acc, ao + 1 * dPad + 2 * L).mul(s1);
        FloatVector a13 = FloatVector.fromArray(SP, acc, ao + 1 * dPad + 3 * L).mul(s1);
        FloatVector s2 = FloatVector.broadcast(SP, alpha[ro + 2]);
        FloatVector a20 = FloatVector.fromArray(SP, acc, ao + 2 * dPad).mul(s2);
        FloatVector a21 = FloatVector.fromArray(SP, acc, ao + 2 * dPad + 1 * L).mul(s2);
        FloatVector a22 = FloatVector.fromArray(SP, acc, ao + 2 * dPad + 2 * L).mul(s2);
        FloatVector a23 = FloatVector.fromArray(SP, acc, ao + 2 * dPad + 3 * L).mul(s2);
        FloatVector s3 = FloatVector.broadcast(SP, alpha[ro + 3]);
        FloatVector a30 = FloatVector.fromArray(SP, acc, ao + 3 * dPad).mul(s3);
        FloatVector a31 = FloatVector.fromArray(SP, acc, ao + 3 * dPad + 1 * L).mul(s3);
        FloatVector a32 = FloatVector.fromArray(SP, acc, ao + 3 * dPad + 2 * L).mul(s3);
        FloatVector a33 = FloatVector.fromArray(SP, acc, ao + 3 * dPad + 3 * L).mul(s3);
        for (int j = 0, vj = vo; j < w; j++, vj += dPad) {
            FloatVector v0 = FloatVector.fromArray(SP, vp, vj);
            FloatVector v1 = FloatVector.fromArray(SP, vp, vj + 1 * L);
            FloatVector v2 = FloatVector.fromArray(SP, vp, vj + 2 * L);
            FloatVector v3 = FloatVector.fromArray(SP, vp, vj + 3 * L);
            FloatVector p0 = FloatVector.broadcast(SP, p[po + 0 * SW + j]);
            a00 = v0.fma(p0, a00);
            a01 = v1.fma(p0, a01);
            a02 = v2.fma(p0, a02);
            a03 = v3.fma(p0, a03);
            FloatVector p1 = FloatVector.broadcast(SP, p[po + 1 * SW + j]);
            a10 = v0.fma(p1, a10);
            a11 = v1.fma(p1, a11);
            a12 = v2.fma(p1, a12);
            a13 = v3.fma(p1, a13);
            FloatVector p2 = FloatVector.broadcast(SP, p[po + 2 * SW + j]);
            a20 = v0.fma(p2, a20);
            a21 = v1.fma(p2, a21);
            a22 = v2.fma(p2, a22);
            a23 = v3.fma(p2, a23);
            FloatVector p3 = FloatVector.broadcast(SP, p[po + 3 * SW + j]);
            a30 = v0.fma(p3, a30);
            a31 = v1.fma(p3, a31);
            a32 = v2.fma(p3, a32);
            a33 = v3.fma(p3, a33);
        }
        a00.intoArray(acc, ao + 0 * dPad);
        a01.intoArray(acc, ao + 0 * dPad + 1 * L);
        a02.intoArray(acc, ao + 0 * dPad + 2 * L);
        a03.intoArray(acc, ao + 0 * dPad + 3 * L);
        a10.intoArray(acc, ao + 1 * dPad);
        a11.intoArray(acc, ao + 1 * dPad + 1 * L);
        a12.intoArray(acc, ao + 1 * dPad + 2 * L);
        a13.intoArray(acc, ao + 1 * dPad + 3 * L);
        a20.intoArray(acc, ao + 2 * dPad);
        a21.intoArray(acc, ao + 2 * dPad + 1 * L);
        a22.intoArray(acc, ao + 2 * dPad + 2 * L);
        a23.intoArray(acc, ao + 2 * dPad + 3 * L);
        a30.intoArray(acc, ao + 3 * dPad);
        a31.intoArray(acc, ao + 3 * dPad + 1 * L);
        a32.intoArray(acc, ao + 3 * dPad + 2 * L);
        a33.intoArray(acc, ao + 3 * dPad + 3 * L);
    }

    /** O[4 rows][3·L cols] = O·alpha + P rows · V block rows (contraction over j &lt; w). */
    private static void pv4x3(float[] p, int po, float[] vp, int vo, int dPad, int w,
                                 float[] acc, int ao, float[] alpha, int ro) {
        FloatVector s0 = FloatVector.broadcast(SP, alpha[ro + 0]);
        FloatVector a00 = FloatVector.fromArray(SP, acc, ao + 0 * dPad).mul(s0);
        FloatVector a01 = FloatVector.fromArray(SP, acc, ao + 0 * dPad + 1 * L).mul(s0);
        FloatVector a02 = FloatVector.fromArray(SP, acc, ao + 0 * dPad + 2 * L).mul(s0);
        FloatVector s1 = FloatVector.broadcast(SP, alpha[ro + 1]);
        FloatVector a10 = FloatVector.fromArray(SP, acc, ao + 1 * dPad).mul(s1);
        FloatVector a11 = FloatVector.fromArray(SP, acc, ao + 1 * dPad + 1 * L).mul(s1);
        FloatVector a12 = FloatVector.fromArray(SP, acc, ao + 1 * dPad + 2 * L).mul(s1);
        FloatVector s2 = FloatVector.broadcast(SP, alpha[ro + 2]);
        FloatVector a20 = FloatVector.fromArray(SP, acc, ao + 2 * dPad).mul(s2);
        FloatVector a21 = FloatVector.fromArray(SP, acc, ao + 2 * dPad + 1 * L).mul(s2);
        FloatVector a22 = FloatVector.fromArray(SP, acc, ao + 2 * dPad + 2 * L).mul(s2);
        FloatVector s3 = FloatVector.broadcast(SP, alpha[ro + 3]);
        FloatVector a30 = FloatVector.fromArray(SP, acc, ao + 3 * dPad).mul(s3);
        FloatVector a31 = FloatVector.fromArray(SP, acc, ao + 3 * dPad + 1 * L).mul(s3);
        FloatVector a32 = FloatVector.fromArray(SP, acc, ao + 3 * dPad + 2 * L).mul(s3);
        for (int j = 0, vj = vo; j < w; j++, vj += dPad) {
            FloatVector v0 = FloatVector.fromArray(SP, vp, vj);
            FloatVector v1 = FloatVector.fromArray(SP, vp, vj + 1 * L);
            FloatVector v2 = FloatVector.fromArray(SP, vp, vj + 2 * L);
            FloatVector p0 = FloatVector.broadcast(SP, p[po + 0 * SW + j]);
            a00 = v0.fma(p0, a00);
            a01 = v1.fma(p0, a01);
            a02 = v2.fma(p0, a02);
            FloatVector p1 = FloatVector.broadcast(SP, p[po + 1 * SW + j]);
            a10 = v0.fma(p1, a10);
            a11 = v1.fma(p1, a11);
            a12 = v2.fma(p1, a12);
            FloatVector p2 = FloatVector.broadcast(SP, p[po + 2 * SW + j]);
            a20 = v0.fma(p2, a20);
            a21 = v1.fma(p2, a21);
            a22 = v2.fma(p2, a22);
            FloatVector p3 = FloatVector.broadcast(SP, p[po + 3 * SW + j]);
            a30 = v0.fma(p3, a30);
            a31 = v1.fma(p3, a31);
            a32 = v2.fma(p3, a32);
        }
        a00.intoArray(acc, ao + 0 * dPad);
        a01.intoArray(acc, ao + 0 * dPad + 1 * L);
        a02.intoArray(acc, ao + 0 * dPad + 2 * L);
        a10.intoArray(acc, ao + 1 * dPad);
        a11.intoArray(acc, ao + 1 * dPad + 1 * L);
        a12.intoArray(acc, ao + 1 * dPad + 2 * L);
        a20.intoArray(acc, ao + 2 * dPad);
        a21.intoArray(acc, ao + 2 * dPad + 1 * L);
        a22.intoArray(acc, ao + 2 * dPad + 2 * L);
        a30.intoArray(acc, ao + 3 * dPad);
        a31.intoArray(acc, ao + 3 * dPad + 1 * L);
        a32.intoArray(acc, ao + 3 * dPad + 2 * L);
    }

    /** O[4 rows][2·L cols] = O·alpha + P rows · V block rows (contraction over j &lt; w). */
    private static void pv4x2(float[] p, int po, float[] vp, int vo, int dPad, int w,
                                 float[] acc, int ao, float[] alpha, int ro) {
        FloatVector s0 = FloatVector.broadcast(SP, alpha[ro + 0]);
        FloatVector a00 = FloatVector.fromArray(SP, acc, ao + 0 * dPad).mul(s0);
        FloatVector a01 = FloatVector.fromArray(SP, acc, ao + 0 * dPad + 1 * L).mul(s0);
        FloatVector s1 = FloatVector.broadcast(SP, alpha[ro + 1]);
        FloatVector a10 = FloatVector.fromArray(SP, acc, ao + 1 * dPad).mul(s1);
        FloatVector a11 = FloatVector.fromArray(SP, acc, ao + 1 * dPad + 1 * L).mul(s1);
        FloatVector s2 = FloatVector.broadcast(SP, alpha[ro + 2]);
        FloatVector a20 = FloatVector.fromArray(SP, acc, ao + 2 * dPad).mul(s2);
        FloatVector a21 = FloatVector.fromArray(SP, acc, ao + 2 * dPad + 1 * L).mul(s2);
        FloatVector s3 = FloatVector.broadcast(SP, alpha[ro + 3]);
        FloatVector a30 = FloatVector.fromArray(SP, acc, ao + 3 * dPad).mul(s3);
        FloatVector a31 = FloatVector.fromArray(SP, acc, ao + 3 * dPad + 1 * L).mul(s3);
        for (int j = 0, vj = vo; j < w; j++, vj += dPad) {
            FloatVector v0 = FloatVector.fromArray(SP, vp, vj);
            FloatVector v1 = FloatVector.fromArray(SP, vp, vj + 1 * L);
            FloatVector p0 = FloatVector.broadcast(SP, p[po + 0 * SW + j]);
            a00 = v0.fma(p0, a00);
            a01 = v1.fma(p0, a01);
            FloatVector p1 = FloatVector.broadcast(SP, p[po + 1 * SW + j]);
            a10 = v0.fma(p1, a10);
            a11 = v1.fma(p1, a11);
            FloatVector p2 = FloatVector.broadcast(SP, p[po + 2 * SW + j]);
            a20 = v0.fma(p2, a20);
            a21 = v1.fma(p2, a21);
            FloatVector p3 = FloatVector.broadcast(SP, p[po + 3 * SW + j]);
            a30 = v0.fma(p3, a30);
            a31 = v1.fma(p3, a31);
        }
        a00.intoArray(acc, ao + 0 * dPad);
        a01.intoArray(acc, ao + 0 * dPad + 1 * L);
        a10.intoArray(acc, ao + 1 * dPad);
        a11.intoArray(acc, ao + 1 * dPad + 1 * L);
        a20.intoArray(acc, ao + 2 * dPad);
        a21.intoArray(acc, ao + 2 * dPad + 1 * L);
        a30.intoArray(acc, ao + 3 * dPad);
        a31.intoArray(acc, ao + 3 * dPad + 1 * L);
    }

    /** O[4 rows][1·L cols] = O·alpha + P rows · V block rows (contraction over j &lt; w). */
    private static void pv4x1(float[] p, int po, float[] vp, int vo, int dPad, int w,
                                 float[] acc, int ao, float[] alpha, int ro) {
        FloatVector s0 = FloatVector.broadcast(SP, alpha[ro + 0]);
        FloatVector a00 = FloatVector.fromArray(SP, acc, ao + 0 * dPad).mul(s0);
        FloatVector s1 = FloatVector.broadcast(SP, alpha[ro + 1]);
        FloatVector a10 = FloatVector.fromArray(SP, acc, ao + 1 * dPad).mul(s1);
        FloatVector s2 = FloatVector.broadcast(SP, alpha[ro + 2]);
        FloatVector a20 = FloatVector.fromArray(SP, acc, ao + 2 * dPad).mul(s2);
        FloatVector s3 = FloatVector.broadcast(SP, alpha[ro + 3]);
        FloatVector a30 = FloatVector.fromArray(SP, acc, ao + 3 * dPad).mul(s3);
        for (int j = 0, vj = vo; j < w; j++, vj += dPad) {
            FloatVector v0 = FloatVector.fromArray(SP, vp, vj);
            FloatVector p0 = FloatVector.broadcast(SP, p[po + 0 * SW + j]);
            a00 = v0.fma(p0, a00);
            FloatVector p1 = FloatVector.broadcast(SP, p[po + 1 * SW + j]);
            a10 = v0.fma(p1, a10);
            FloatVector p2 = FloatVector.broadcast(SP, p[po + 2 * SW + j]);
            a20 = v0.fma(p2, a20);
            FloatVector p3 = FloatVector.broadcast(SP, p[po + 3 * SW + j]);
            a30 = v0.fma(p3, a30);
        }
        a00.intoArray(acc, ao + 0 * dPad);
        a10.intoArray(acc, ao + 1 * dPad);
        a20.intoArray(acc, ao + 2 * dPad);
        a30.intoArray(acc, ao + 3 * dPad);
    }
}
