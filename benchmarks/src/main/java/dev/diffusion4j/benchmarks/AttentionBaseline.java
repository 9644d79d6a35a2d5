package dev.diffusion4j.benchmarks;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Timing baseline: a copy of {@code dev.diffusion4j.tensor.cpu.Attention} as it was before issue #9's
 * attention work, kept only so {@link AttentionTiming} can time old against new in one process. {@link #phases}
 * cuts each key block short (1: scores only, 2: scores + softmax, 3: everything) to see where the time goes.
 *
 * <p>Multi-head scaled dot-product attention in tiles with an online softmax (flash-attention style).
 *
 * <p>Everything runs "transposed": one vector lane per query. Per (batch, head) K and V are packed once
 * (K rows padded to a multiple of 4 keys, V rows to a multiple of 4 channels). A task owns one block of
 * {@code BQ} queries of one head; it transposes them to {@code Qt [d][BQ]} and walks the key blocks:
 * <ol>
 *   <li>{@code S^T [BK][BQ] = K_block · Qt} (micro-kernel: 4 broadcast keys × up to 4 query vectors; blocks
 *       of 64 keys, or all keys in one block when there are at most 128);</li>
 *   <li>per query lane: running maximum {@code m}, {@code P = 2^(S - m)}, running sum {@code l}, and the
 *       factor {@code alpha = 2^(m_old - m_new)} for what was accumulated before; all lane-wise, so no
 *       horizontal reductions;</li>
 *   <li>{@code Ot [d][BQ] = Ot·alpha + V_block^T · P^T} (4 broadcast channels × up to 4 query vectors).</li>
 * </ol>
 * The tokens × tokens score matrix never exists: extra memory is one packed copy of K and V plus a few
 * tiles per thread. The head dimension is the contraction (or broadcast) index of both micro-kernels,
 * so head sizes like 40 or 17 need no masked vectors.
 *
 * <p>Scores are kept in base 2: q is pre-multiplied by {@code scale · log2(e)} so the softmax needs
 * {@code 2^x}, computed as in {@link #exp2Neg} (range reduction to {@code [-0.5, 0.5]}, a degree-6 minimax
 * polynomial, within about 1 ulp). Measured on the whole kernel it was a little faster than
 * {@code lanewise(VectorOperators.EXP)} (0.43 against 0.41 of the FMA peak, 4096 tokens × 8 heads × 40).
 */
public final class AttentionBaseline {
    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, SP.vectorShape());
    private static final int L = SP.length();
    /** Queries per task: 4 vectors, the widest micro-kernel; also the row stride of every tile. */
    private static final int BQ = 4 * L;
    /** Keys per block (a multiple of 4), unless all keys fit in two. */
    private static final int BK = 64;
    /** Head-dimension chunk of the score kernel: keeps {@code DC × BQ} floats of Qt in L1. */
    private static final int DC = 128;
    private static final float LOG2E = 1.4426950408889634f;

    private AttentionBaseline() {
    }

    /** How much of each key block runs: 1 scores, 2 + softmax, 3 all (the real kernel). */
    static int phases = 3;

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
        int d4 = (d + 3) & ~3;
        int tk4 = (tk + 3) & ~3;
        int nHeads = batch * heads;
        long kpSize = (long) nHeads * tk4 * d;
        long vpSize = (long) nHeads * tk * d4;
        if (Math.max(kpSize, vpSize) > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("attention: k " + k.shape() + " / v " + v.shape() + " with heads="
                    + heads + " too large to pack (" + Math.max(kpSize, vpSize) + " elements)");
        }
        float[] kp = new float[(int) kpSize];
        float[] vp = new float[(int) vpSize];
        // Short key sequences (text: 77 tokens) in one block: a second, small block would cost a full round
        // of accumulator rescaling for a few keys.
        int bk = tk <= 2 * BK ? tk4 : BK;
        int kBlocks = (tk + bk - 1) / bk;
        Geometry g = new Geometry(heads, d, d4, channels, tq, tk, tk4, bk, causal, scale * LOG2E);

        // Phase 1: pack K and V of every (batch, head), contiguous per head.
        pool.parallelFor(nHeads * kBlocks, (from, to) -> {
            for (int t = from; t < to; t++) {
                packKv(g, kh, vh, t / kBlocks, t % kBlocks, kp, vp);
            }
        });

        // Phase 2: one task per (batch, head, query block).
        int qBlocks = (tq + BQ - 1) / BQ;
        int tasks = nHeads * qBlocks;
        // Causal tasks differ in cost; small chunks keep both threads busy to the end.
        int grain = Math.max(1, Math.min(causal ? 1 : 8, tasks / (8 * pool.threads())));
        // With one key block (text keys) K and V of all heads fit in L2, so the heads are the inner index: the
        // query rows of a block are read (and its output rows written) once for all heads, whole cache lines,
        // rather than once per head. Longer keys keep one head's K and V hot over all its query blocks.
        boolean headsInner = kBlocks == 1;
        pool.parallelFor(tasks, grain, (from, to) -> {
            Scratch sc = new Scratch(g);
            for (int t = from; t < to; t++) {
                if (headsInner) {
                    int b = t / (heads * qBlocks);
                    int r = t % (heads * qBlocks);
                    queryBlock(g, sc, qh, kp, vp, out, b * heads + r % heads, r / heads);
                } else {
                    queryBlock(g, sc, qh, kp, vp, out, t / qBlocks, t % qBlocks);
                }
            }
        });
        return out;
    }

    private static Tensor heap(Tensor t) {
        return t.isHeap() ? t : t.toHeapF32();
    }

    /** Sizes shared by every task of one call. */
    private record Geometry(int heads, int d, int d4, int channels, int tq, int tk, int tk4, int bk,
                            boolean causal, float qScale, int[] rowIdx) {
        Geometry(int heads, int d, int d4, int channels, int tq, int tk, int tk4, int bk, boolean causal,
                 float qScale) {
            this(heads, d, d4, channels, tq, tk, tk4, bk, causal, qScale, rowIndices(channels));
        }

        /** Gather indices of L consecutive query rows of q: stride {@code channels}. */
        private static int[] rowIndices(int channels) {
            int[] idx = new int[L];
            for (int i = 0; i < L; i++) {
                idx[i] = i * channels;
            }
            return idx;
        }
    }

    /** Per-thread tiles, all with row stride {@code BQ} (one lane per query). */
    private static final class Scratch {
        final float[] qt;
        final float[] s;
        final float[] ot;
        final float[] m = new float[BQ];
        final float[] l = new float[BQ];
        final float[] alpha = new float[BQ];

        Scratch(Geometry g) {
            qt = new float[g.d() * BQ];
            s = new float[g.bk() * BQ];
            // Rows up to a multiple of L too: the output gather reads L rows from every multiple of L.
            ot = new float[Math.max(g.d4(), (g.d() + L - 1) / L * L) * BQ];
        }
    }

    private static void packKv(Geometry g, Tensor k, Tensor v, int hd, int kb, float[] kp, float[] vp) {
        int d = g.d();
        int d4 = g.d4();
        int b = hd / g.heads();
        int h = hd % g.heads();
        int kpHead = hd * g.tk4() * d;
        int vpHead = hd * g.tk() * d4;
        float[] ka = k.array();
        float[] va = v.array();
        int jEnd = Math.min((kb + 1) * g.bk(), g.tk());
        for (int j = kb * g.bk(); j < jEnd; j++) {
            int src = (b * g.tk() + j) * g.channels() + h * d;
            System.arraycopy(ka, k.offset() + src, kp, kpHead + j * d, d);
            System.arraycopy(va, v.offset() + src, vp, vpHead + j * d4, d);
        }
        // Keys tk..tk4 of kp and channels d..d4 of vp stay zero.
    }

    private static void queryBlock(Geometry g, Scratch sc, Tensor q, float[] kp, float[] vp, Tensor out,
                                   int hd, int qb) {
        int d = g.d();
        int d4 = g.d4();
        int b = hd / g.heads();
        int h = hd % g.heads();
        int qs = qb * BQ;
        int rows = Math.min(BQ, g.tq() - qs);
        int nq = (rows + L - 1) / L;
        int lanes = nq * L;
        float[] qt = sc.qt;
        float[] s = sc.s;
        float[] ot = sc.ot;
        float[] m = sc.m;
        float[] l = sc.l;
        float[] alpha = sc.alpha;

        // Queries transposed ([c][query]) and pre-scaled into base-2 logits; lanes past the last row are zero.
        float[] qa = q.array();
        float qScale = g.qScale();
        int qBase = q.offset() + (b * g.tq() + qs) * g.channels() + h * d;
        if (rows == BQ) {
            // Full block: one gather per (channel, query vector) instead of L scalar loads and stores.
            int[] rowIdx = g.rowIdx();
            for (int io = 0; io < BQ; io += L) {
                int src = qBase + io * g.channels();
                for (int c = 0; c < d; c++) {
                    FloatVector.fromArray(SP, qa, src + c, rowIdx, 0).mul(qScale).intoArray(qt, c * BQ + io);
                }
            }
        } else {
            for (int r = 0; r < rows; r++) {
                int src = qBase + r * g.channels();
                for (int c = 0; c < d; c++) {
                    qt[c * BQ + r] = qa[src + c] * qScale;
                }
            }
        }
        if (rows < lanes) {
            for (int c = 0; c < d; c++) {
                Arrays.fill(qt, c * BQ + rows, c * BQ + lanes, 0f);
            }
        }
        Arrays.fill(ot, 0, d4 * BQ, 0f);
        // -MAX rather than -inf: m - mNew stays a number even before a row has seen a key.
        Arrays.fill(m, -Float.MAX_VALUE);
        Arrays.fill(l, 0f);

        int kEnd = g.causal() ? Math.min(g.tk(), qs + rows) : g.tk();
        int kpHead = hd * g.tk4() * d;
        int vpHead = hd * g.tk() * d4;
        int bk = g.bk();
        for (int ks = 0; ks < kEnd; ks += bk) {
            int w = Math.min(bk, kEnd - ks);
            int w4 = (w + 3) & ~3;
            // S^T = K_block · Qt, in chunks of the head dimension so the Qt rows in use stay in L1.
            for (int c0 = 0; c0 < d; c0 += DC) {
                int c1 = Math.min(d, c0 + DC);
                boolean acc = c0 > 0;
                for (int jr = 0; jr < w4; jr += 4) {
                    int ko = kpHead + (ks + jr) * d;
                    int so = jr * BQ;
                    switch (nq) {
                        case 4 -> qk4x4(kp, ko, d, qt, c0, c1, s, so, acc);
                        case 3 -> qk4x3(kp, ko, d, qt, c0, c1, s, so, acc);
                        case 2 -> qk4x2(kp, ko, d, qt, c0, c1, s, so, acc);
                        default -> qk4x1(kp, ko, d, qt, c0, c1, s, so, acc);
                    }
                }
            }
            // Causal: in a block that reaches past the first query, key j is hidden from queries i < j.
            boolean diagonal = g.causal() && ks + w - 1 > qs;
            if (phases < 2) {
                continue;
            }
            for (int io = 0; io < lanes; io += L) {
                if (diagonal) {
                    softmaxCausal(s, io, w, m, l, alpha, qs + io - ks);
                } else {
                    softmax(s, io, w, m, l, alpha);
                }
            }
            if (phases < 3) {
                continue;
            }
            // Ot = Ot·alpha + V_block^T · P^T.
            int vo = vpHead + ks * d4;
            for (int c = 0; c < d4; c += 4) {
                switch (nq) {
                    case 4 -> pv4x4(vp, vo + c, d4, w, s, ot, c * BQ, alpha);
                    case 3 -> pv4x3(vp, vo + c, d4, w, s, ot, c * BQ, alpha);
                    case 2 -> pv4x2(vp, vo + c, d4, w, s, ot, c * BQ, alpha);
                    default -> pv4x1(vp, vo + c, d4, w, s, ot, c * BQ, alpha);
                }
            }
        }
        // out = Ot^T / l: per query row, gather L channels (stride BQ) of Ot, scale, store contiguously.
        for (int io = 0; io < lanes; io += L) {
            FloatVector.broadcast(SP, 1f).div(FloatVector.fromArray(SP, l, io)).intoArray(alpha, io);
        }
        float[] oa = out.array();
        int dFull = d - d % L;
        VectorMask<Float> tail = SP.indexInRange(dFull, d);
        for (int r = 0; r < rows; r++) {
            int dst = (b * g.tq() + qs + r) * g.channels() + h * d;
            float inv = alpha[r];
            int c = 0;
            for (; c < dFull; c += L) {
                FloatVector.fromArray(SP, ot, c * BQ + r, CH_IDX, 0).mul(inv).intoArray(oa, dst + c);
            }
            if (c < d) {
                // ot has rows up to a multiple of L: the gather stays inside it; the store is masked.
                FloatVector.fromArray(SP, ot, c * BQ + r, CH_IDX, 0).mul(inv).intoArray(oa, dst + c, tail);
            }
        }
    }

    /** Gather indices of one Ot column: L consecutive channel rows, stride BQ. */
    private static final int[] CH_IDX = new int[L];

    static {
        for (int i = 0; i < L; i++) {
            CH_IDX[i] = i * BQ;
        }
    }

    /**
     * Online-softmax step for the L queries at lane offset {@code io} over the {@code w} key rows of a score
     * tile: updates the running maximum {@code m} and sum {@code l}, turns the scores into probabilities
     * in place and leaves in {@code alpha} the factor for what was accumulated before.
     */
    static void softmax(float[] s, int io, int w, float[] m, float[] l, float[] alpha) {
        // Two partial maxima: one chain would wait on the max latency at every key.
        FloatVector mx0 = FloatVector.fromArray(SP, s, io);
        FloatVector mx1 = mx0;
        int j = 1;
        int so = io + BQ;
        for (; j + 2 <= w; j += 2, so += 2 * BQ) {
            mx0 = mx0.max(FloatVector.fromArray(SP, s, so));
            mx1 = mx1.max(FloatVector.fromArray(SP, s, so + BQ));
        }
        if (j < w) {
            mx0 = mx0.max(FloatVector.fromArray(SP, s, so));
        }
        FloatVector mOld = FloatVector.fromArray(SP, m, io);
        FloatVector mNew = mOld.max(mx0.max(mx1));
        FloatVector a = exp2Neg(mOld.sub(mNew));
        a.intoArray(alpha, io);
        mNew.intoArray(m, io);
        FloatVector sum = FloatVector.zero(SP);
        for (j = 0, so = io; j < w; j++, so += BQ) {
            // exp2Neg written out: C2 gives up inlining it here (node count) and would box the vectors.
            FloatVector x = FloatVector.fromArray(SP, s, so).sub(mNew).max(-126f);
            FloatVector t = x.add(MAGIC127);
            FloatVector f = x.sub(t.sub(MAGIC127));
            FloatVector p = f.fma(P6, P5).fma(f, FloatVector.broadcast(SP, P4)).fma(f, FloatVector.broadcast(SP, P3))
                    .fma(f, FloatVector.broadcast(SP, P2)).fma(f, FloatVector.broadcast(SP, P1))
                    .fma(f, FloatVector.broadcast(SP, 1f))
                    .mul(t.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
            p.intoArray(s, so);
            sum = sum.add(p);
        }
        FloatVector.fromArray(SP, l, io).fma(a, sum).intoArray(l, io);
    }

    /**
     * {@link #softmax} on a causal tile: key row j is hidden from lane i when {@code j > i + diag}
     * ({@code diag} = first query of the lanes minus first key of the tile).
     */
    private static void softmaxCausal(float[] s, int io, int w, float[] m, float[] l, float[] alpha, int diag) {
        IntVector lane = IntVector.zero(IS).addIndex(1).add(diag);
        FloatVector mx = FloatVector.broadcast(SP, Float.NEGATIVE_INFINITY);
        for (int j = 0, so = io; j < w; j++, so += BQ) {
            VectorMask<Float> hidden = lane.lt(j).cast(SP);
            FloatVector sv = FloatVector.fromArray(SP, s, so).blend(Float.NEGATIVE_INFINITY, hidden);
            mx = mx.max(sv);
        }
        FloatVector mOld = FloatVector.fromArray(SP, m, io);
        FloatVector mNew = mOld.max(mx);
        FloatVector a = exp2Neg(mOld.sub(mNew));
        a.intoArray(alpha, io);
        mNew.intoArray(m, io);
        FloatVector sum = FloatVector.zero(SP);
        for (int j = 0, so = io; j < w; j++, so += BQ) {
            VectorMask<Float> hidden = lane.lt(j).cast(SP);
            FloatVector p = exp2Neg(FloatVector.fromArray(SP, s, so).sub(mNew)).blend(0f, hidden);
            p.intoArray(s, so);
            sum = sum.add(p);
        }
        FloatVector.fromArray(SP, l, io).fma(a, sum).intoArray(l, io);
    }

    private static final float MAGIC = 12582912f; // 1.5 · 2^23: adding it rounds to an integer in the low bits
    private static final float MAGIC127 = MAGIC + 127f; // the same, with the exponent bias added on the way
    // Minimax (relative error) polynomial for 2^f on [-0.5, 0.5], degree 6: error 2e-9, about 1 ulp in float.
    private static final float P1 = 0.6931471824645996f;
    private static final float P2 = 0.24022647738456726f;
    private static final float P3 = 0.055503323674201965f;
    private static final float P4 = 0.00961843691766262f;
    private static final float P5 = 0.0013398875016719103f;
    private static final float P6 = 0.00015353360504377633f;

    /**
     * {@code 2^x} lane-wise for {@code x <= 0}, within about 1 ulp down to {@code x = -126}. Below that
     * (including -inf) it returns {@code 2^-126}-ish rather than 0: negligible against a softmax sum ≥ 1,
     * and the cost of a blend is saved; masked scores are zeroed by the caller. x = n + f with n an
     * integer and |f| ≤ 0.5; 2^n is built in the exponent bits.
     */
    static FloatVector exp2Neg(FloatVector x) {
        FloatVector xc = x.max(-126f);
        FloatVector t = xc.add(MAGIC);
        FloatVector n = t.sub(MAGIC);
        FloatVector f = xc.sub(n);
        FloatVector p = f.fma(P6, P5).fma(f, FloatVector.broadcast(SP, P4)).fma(f, FloatVector.broadcast(SP, P3))
                .fma(f, FloatVector.broadcast(SP, P2)).fma(f, FloatVector.broadcast(SP, P1))
                .fma(f, FloatVector.broadcast(SP, 1f));
        // The low bits of t hold n (two's complement, |n| < 2^22); shifting n + 127 into the exponent field
        // pushes the magic constant's bits out.
        IntVector bits = ((IntVector) t.reinterpretAsInts()).add(127).lanewise(VectorOperators.LSHL, 23);
        return p.mul((FloatVector) bits.reinterpretAsFloats());
    }

    /** Scalar twin of {@link #exp2Neg(FloatVector)}, for tests. */
    static float exp2Neg(float x) {
        return exp2Neg(FloatVector.broadcast(SP, x)).lane(0);
    }

    /**
     * Scores of 4 keys × 4·L queries, transposed: {@code s[(r)·BQ + i] (+)= Σ_c kp[ko + r·d + c] · qt[c·BQ + i]}
     * for c in {@code [c0, c1)}; starts from zero unless {@code accumulate}.
     */
    static void qk4x4(float[] kp, int ko, int d, float[] qt, int c0, int c1, float[] s, int so,
                               boolean accumulate) {
        FloatVector a00;
        FloatVector a01;
        FloatVector a02;
        FloatVector a03;
        FloatVector a10;
        FloatVector a11;
        FloatVector a12;
        FloatVector a13;
        FloatVector a20;
        FloatVector a21;
        FloatVector a22;
        FloatVector a23;
        FloatVector a30;
        FloatVector a31;
        FloatVector a32;
        FloatVector a33;
        if (accumulate) {
            a00 = FloatVector.fromArray(SP, s, so);
            a01 = FloatVector.fromArray(SP, s, so + 1 * L);
            a02 = FloatVector.fromArray(SP, s, so + 2 * L);
            a03 = FloatVector.fromArray(SP, s, so + 3 * L);
            a10 = FloatVector.fromArray(SP, s, so + 1 * BQ);
            a11 = FloatVector.fromArray(SP, s, so + 1 * BQ + 1 * L);
            a12 = FloatVector.fromArray(SP, s, so + 1 * BQ + 2 * L);
            a13 = FloatVector.fromArray(SP, s, so + 1 * BQ + 3 * L);
            a20 = FloatVector.fromArray(SP, s, so + 2 * BQ);
            a21 = FloatVector.fromArray(SP, s, so + 2 * BQ + 1 * L);
            a22 = FloatVector.fromArray(SP, s, so + 2 * BQ + 2 * L);
            a23 = FloatVector.fromArray(SP, s, so + 2 * BQ + 3 * L);
            a30 = FloatVector.fromArray(SP, s, so + 3 * BQ);
            a31 = FloatVector.fromArray(SP, s, so + 3 * BQ + 1 * L);
            a32 = FloatVector.fromArray(SP, s, so + 3 * BQ + 2 * L);
            a33 = FloatVector.fromArray(SP, s, so + 3 * BQ + 3 * L);
        } else {
            a00 = FloatVector.zero(SP);
            a01 = FloatVector.zero(SP);
            a02 = FloatVector.zero(SP);
            a03 = FloatVector.zero(SP);
            a10 = FloatVector.zero(SP);
            a11 = FloatVector.zero(SP);
            a12 = FloatVector.zero(SP);
            a13 = FloatVector.zero(SP);
            a20 = FloatVector.zero(SP);
            a21 = FloatVector.zero(SP);
            a22 = FloatVector.zero(SP);
            a23 = FloatVector.zero(SP);
            a30 = FloatVector.zero(SP);
            a31 = FloatVector.zero(SP);
            a32 = FloatVector.zero(SP);
            a33 = FloatVector.zero(SP);
        }
        for (int c = c0, qc = c0 * BQ; c < c1; c++, qc += BQ) {
            FloatVector q0 = FloatVector.fromArray(SP, qt, qc);
            FloatVector q1 = FloatVector.fromArray(SP, qt, qc + 1 * L);
            FloatVector q2 = FloatVector.fromArray(SP, qt, qc + 2 * L);
            FloatVector q3 = FloatVector.fromArray(SP, qt, qc + 3 * L);
            FloatVector k0 = FloatVector.broadcast(SP, kp[ko + c]);
            a00 = q0.fma(k0, a00);
            a01 = q1.fma(k0, a01);
            a02 = q2.fma(k0, a02);
            a03 = q3.fma(k0, a03);
            FloatVector k1 = FloatVector.broadcast(SP, kp[ko + 1 * d + c]);
            a10 = q0.fma(k1, a10);
            a11 = q1.fma(k1, a11);
            a12 = q2.fma(k1, a12);
            a13 = q3.fma(k1, a13);
            FloatVector k2 = FloatVector.broadcast(SP, kp[ko + 2 * d + c]);
            a20 = q0.fma(k2, a20);
            a21 = q1.fma(k2, a21);
            a22 = q2.fma(k2, a22);
            a23 = q3.fma(k2, a23);
            FloatVector k3 = FloatVector.broadcast(SP, kp[ko + 3 * d + c]);
            a30 = q0.fma(k3, a30);
            a31 = q1.fma(k3, a31);
            a32 = q2.fma(k3, a32);
            a33 = q3.fma(k3, a33);
        }
        a00.intoArray(s, so);
        a01.intoArray(s, so + 1 * L);
        a02.intoArray(s, so + 2 * L);
        a03.intoArray(s, so + 3 * L);
        a10.intoArray(s, so + 1 * BQ);
        a11.intoArray(s, so + 1 * BQ + 1 * L);
        a12.intoArray(s, so + 1 * BQ + 2 * L);
        a13.intoArray(s, so + 1 * BQ + 3 * L);
        a20.intoArray(s, so + 2 * BQ);
        a21.intoArray(s, so + 2 * BQ + 1 * L);
        a22.intoArray(s, so + 2 * BQ + 2 * L);
        a23.intoArray(s, so + 2 * BQ + 3 * L);
        a30.intoArray(s, so + 3 * BQ);
        a31.intoArray(s, so + 3 * BQ + 1 * L);
        a32.intoArray(s, so + 3 * BQ + 2 * L);
        a33.intoArray(s, so + 3 * BQ + 3 * L);
    }

    /**
     * Scores of 4 keys × 3·L queries, transposed: {@code s[(r)·BQ + i] (+)= Σ_c kp[ko + r·d + c] · qt[c·BQ + i]}
     * for c in {@code [c0, c1)}; starts from zero unless {@code accumulate}.
     */
    private static void qk4x3(float[] kp, int ko, int d, float[] qt, int c0, int c1, float[] s, int so,
                               boolean accumulate) {
        FloatVector a00;
        FloatVector a01;
        FloatVector a02;
        FloatVector a10;
        FloatVector a11;
        FloatVector a12;
        FloatVector a20;
        FloatVector a21;
        FloatVector a22;
        FloatVector a30;
        FloatVector a31;
        FloatVector a32;
        if (accumulate) {
            a00 = FloatVector.fromArray(SP, s, so);
            a01 = FloatVector.fromArray(SP, s, so + 1 * L);
            a02 = FloatVector.fromArray(SP, s, so + 2 * L);
            a10 = FloatVector.fromArray(SP, s, so + 1 * BQ);
            a11 = FloatVector.fromArray(SP, s, so + 1 * BQ + 1 * L);
            a12 = FloatVector.fromArray(SP, s, so + 1 * BQ + 2 * L);
            a20 = FloatVector.fromArray(SP, s, so + 2 * BQ);
            a21 = FloatVector.fromArray(SP, s, so + 2 * BQ + 1 * L);
            a22 = FloatVector.fromArray(SP, s, so + 2 * BQ + 2 * L);
            a30 = FloatVector.fromArray(SP, s, so + 3 * BQ);
            a31 = FloatVector.fromArray(SP, s, so + 3 * BQ + 1 * L);
            a32 = FloatVector.fromArray(SP, s, so + 3 * BQ + 2 * L);
        } else {
            a00 = FloatVector.zero(SP);
            a01 = FloatVector.zero(SP);
            a02 = FloatVector.zero(SP);
            a10 = FloatVector.zero(SP);
            a11 = FloatVector.zero(SP);
            a12 = FloatVector.zero(SP);
            a20 = FloatVector.zero(SP);
            a21 = FloatVector.zero(SP);
            a22 = FloatVector.zero(SP);
            a30 = FloatVector.zero(SP);
            a31 = FloatVector.zero(SP);
            a32 = FloatVector.zero(SP);
        }
        for (int c = c0, qc = c0 * BQ; c < c1; c++, qc += BQ) {
            FloatVector q0 = FloatVector.fromArray(SP, qt, qc);
            FloatVector q1 = FloatVector.fromArray(SP, qt, qc + 1 * L);
            FloatVector q2 = FloatVector.fromArray(SP, qt, qc + 2 * L);
            FloatVector k0 = FloatVector.broadcast(SP, kp[ko + c]);
            a00 = q0.fma(k0, a00);
            a01 = q1.fma(k0, a01);
            a02 = q2.fma(k0, a02);
            FloatVector k1 = FloatVector.broadcast(SP, kp[ko + 1 * d + c]);
            a10 = q0.fma(k1, a10);
            a11 = q1.fma(k1, a11);
            a12 = q2.fma(k1, a12);
            FloatVector k2 = FloatVector.broadcast(SP, kp[ko + 2 * d + c]);
            a20 = q0.fma(k2, a20);
            a21 = q1.fma(k2, a21);
            a22 = q2.fma(k2, a22);
            FloatVector k3 = FloatVector.broadcast(SP, kp[ko + 3 * d + c]);
            a30 = q0.fma(k3, a30);
            a31 = q1.fma(k3, a31);
            a32 = q2.fma(k3, a32);
        }
        a00.intoArray(s, so);
        a01.intoArray(s, so + 1 * L);
        a02.intoArray(s, so + 2 * L);
        a10.intoArray(s, so + 1 * BQ);
        a11.intoArray(s, so + 1 * BQ + 1 * L);
        a12.intoArray(s, so + 1 * BQ + 2 * L);
        a20.intoArray(s, so + 2 * BQ);
        a21.intoArray(s, so + 2 * BQ + 1 * L);
        a22.intoArray(s, so + 2 * BQ + 2 * L);
        a30.intoArray(s, so + 3 * BQ);
        a31.intoArray(s, so + 3 * BQ + 1 * L);
        a32.intoArray(s, so + 3 * BQ + 2 * L);
    }

    /**
     * Scores of 4 keys × 2·L queries, transposed: {@code s[(r)·BQ + i] (+)= Σ_c kp[ko + r·d + c] · qt[c·BQ + i]}
     * for c in {@code [c0, c1)}; starts from zero unless {@code accumulate}.
     */
    private static void qk4x2(float[] kp, int ko, int d, float[] qt, int c0, int c1, float[] s, int so,
                               boolean accumulate) {
        FloatVector a00;
        FloatVector a01;
        FloatVector a10;
        FloatVector a11;
        FloatVector a20;
        FloatVector a21;
        FloatVector a30;
        FloatVector a31;
        if (accumulate) {
            a00 = FloatVector.fromArray(SP, s, so);
            a01 = FloatVector.fromArray(SP, s, so + 1 * L);
            a10 = FloatVector.fromArray(SP, s, so + 1 * BQ);
            a11 = FloatVector.fromArray(SP, s, so + 1 * BQ + 1 * L);
            a20 = FloatVector.fromArray(SP, s, so + 2 * BQ);
            a21 = FloatVector.fromArray(SP, s, so + 2 * BQ + 1 * L);
            a30 = FloatVector.fromArray(SP, s, so + 3 * BQ);
            a31 = FloatVector.fromArray(SP, s, so + 3 * BQ + 1 * L);
        } else {
            a00 = FloatVector.zero(SP);
            a01 = FloatVector.zero(SP);
            a10 = FloatVector.zero(SP);
            a11 = FloatVector.zero(SP);
            a20 = FloatVector.zero(SP);
            a21 = FloatVector.zero(SP);
            a30 = FloatVector.zero(SP);
            a31 = FloatVector.zero(SP);
        }
        for (int c = c0, qc = c0 * BQ; c < c1; c++, qc += BQ) {
            FloatVector q0 = FloatVector.fromArray(SP, qt, qc);
            FloatVector q1 = FloatVector.fromArray(SP, qt, qc + 1 * L);
            FloatVector k0 = FloatVector.broadcast(SP, kp[ko + c]);
            a00 = q0.fma(k0, a00);
            a01 = q1.fma(k0, a01);
            FloatVector k1 = FloatVector.broadcast(SP, kp[ko + 1 * d + c]);
            a10 = q0.fma(k1, a10);
            a11 = q1.fma(k1, a11);
            FloatVector k2 = FloatVector.broadcast(SP, kp[ko + 2 * d + c]);
            a20 = q0.fma(k2, a20);
            a21 = q1.fma(k2, a21);
            FloatVector k3 = FloatVector.broadcast(SP, kp[ko + 3 * d + c]);
            a30 = q0.fma(k3, a30);
            a31 = q1.fma(k3, a31);
        }
        a00.intoArray(s, so);
        a01.intoArray(s, so + 1 * L);
        a10.intoArray(s, so + 1 * BQ);
        a11.intoArray(s, so + 1 * BQ + 1 * L);
        a20.intoArray(s, so + 2 * BQ);
        a21.intoArray(s, so + 2 * BQ + 1 * L);
        a30.intoArray(s, so + 3 * BQ);
        a31.intoArray(s, so + 3 * BQ + 1 * L);
    }

    /**
     * Scores of 4 keys × 1·L queries, transposed: {@code s[(r)·BQ + i] (+)= Σ_c kp[ko + r·d + c] · qt[c·BQ + i]}
     * for c in {@code [c0, c1)}; starts from zero unless {@code accumulate}.
     */
    private static void qk4x1(float[] kp, int ko, int d, float[] qt, int c0, int c1, float[] s, int so,
                               boolean accumulate) {
        FloatVector a00;
        FloatVector a10;
        FloatVector a20;
        FloatVector a30;
        if (accumulate) {
            a00 = FloatVector.fromArray(SP, s, so);
            a10 = FloatVector.fromArray(SP, s, so + 1 * BQ);
            a20 = FloatVector.fromArray(SP, s, so + 2 * BQ);
            a30 = FloatVector.fromArray(SP, s, so + 3 * BQ);
        } else {
            a00 = FloatVector.zero(SP);
            a10 = FloatVector.zero(SP);
            a20 = FloatVector.zero(SP);
            a30 = FloatVector.zero(SP);
        }
        for (int c = c0, qc = c0 * BQ; c < c1; c++, qc += BQ) {
            FloatVector q0 = FloatVector.fromArray(SP, qt, qc);
            FloatVector k0 = FloatVector.broadcast(SP, kp[ko + c]);
            a00 = q0.fma(k0, a00);
            FloatVector k1 = FloatVector.broadcast(SP, kp[ko + 1 * d + c]);
            a10 = q0.fma(k1, a10);
            FloatVector k2 = FloatVector.broadcast(SP, kp[ko + 2 * d + c]);
            a20 = q0.fma(k2, a20);
            FloatVector k3 = FloatVector.broadcast(SP, kp[ko + 3 * d + c]);
            a30 = q0.fma(k3, a30);
        }
        a00.intoArray(s, so);
        a10.intoArray(s, so + 1 * BQ);
        a20.intoArray(s, so + 2 * BQ);
        a30.intoArray(s, so + 3 * BQ);
    }

    /**
     * Accumulator rows c..c+3 × 4·L queries, transposed: {@code ot[(c+r)·BQ + i] = ot[..]·alpha[i]
     * + Σ_(j<w) vp[vo + j·dv + r] · p[j·BQ + i]}.
     */
    static void pv4x4(float[] vp, int vo, int dv, int w, float[] p, float[] ot, int oo, float[] alpha) {
        FloatVector s0 = FloatVector.fromArray(SP, alpha, 0);
        FloatVector s1 = FloatVector.fromArray(SP, alpha, 1 * L);
        FloatVector s2 = FloatVector.fromArray(SP, alpha, 2 * L);
        FloatVector s3 = FloatVector.fromArray(SP, alpha, 3 * L);
        FloatVector a00 = FloatVector.fromArray(SP, ot, oo).mul(s0);
        FloatVector a01 = FloatVector.fromArray(SP, ot, oo + 1 * L).mul(s1);
        FloatVector a02 = FloatVector.fromArray(SP, ot, oo + 2 * L).mul(s2);
        FloatVector a03 = FloatVector.fromArray(SP, ot, oo + 3 * L).mul(s3);
        FloatVector a10 = FloatVector.fromArray(SP, ot, oo + 1 * BQ).mul(s0);
        FloatVector a11 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 1 * L).mul(s1);
        FloatVector a12 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 2 * L).mul(s2);
        FloatVector a13 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 3 * L).mul(s3);
        FloatVector a20 = FloatVector.fromArray(SP, ot, oo + 2 * BQ).mul(s0);
        FloatVector a21 = FloatVector.fromArray(SP, ot, oo + 2 * BQ + 1 * L).mul(s1);
        FloatVector a22 = FloatVector.fromArray(SP, ot, oo + 2 * BQ + 2 * L).mul(s2);
        FloatVector a23 = FloatVector.fromArray(SP, ot, oo + 2 * BQ + 3 * L).mul(s3);
        FloatVector a30 = FloatVector.fromArray(SP, ot, oo + 3 * BQ).mul(s0);
        FloatVector a31 = FloatVector.fromArray(SP, ot, oo + 3 * BQ + 1 * L).mul(s1);
        FloatVector a32 = FloatVector.fromArray(SP, ot, oo + 3 * BQ + 2 * L).mul(s2);
        FloatVector a33 = FloatVector.fromArray(SP, ot, oo + 3 * BQ + 3 * L).mul(s3);
        for (int j = 0, vj = vo, pj = 0; j < w; j++, vj += dv, pj += BQ) {
            FloatVector p0 = FloatVector.fromArray(SP, p, pj);
            FloatVector p1 = FloatVector.fromArray(SP, p, pj + 1 * L);
            FloatVector p2 = FloatVector.fromArray(SP, p, pj + 2 * L);
            FloatVector p3 = FloatVector.fromArray(SP, p, pj + 3 * L);
            FloatVector v0 = FloatVector.broadcast(SP, vp[vj]);
            a00 = p0.fma(v0, a00);
            a01 = p1.fma(v0, a01);
            a02 = p2.fma(v0, a02);
            a03 = p3.fma(v0, a03);
            FloatVector v1 = FloatVector.broadcast(SP, vp[vj + 1]);
            a10 = p0.fma(v1, a10);
            a11 = p1.fma(v1, a11);
            a12 = p2.fma(v1, a12);
            a13 = p3.fma(v1, a13);
            FloatVector v2 = FloatVector.broadcast(SP, vp[vj + 2]);
            a20 = p0.fma(v2, a20);
            a21 = p1.fma(v2, a21);
            a22 = p2.fma(v2, a22);
            a23 = p3.fma(v2, a23);
            FloatVector v3 = FloatVector.broadcast(SP, vp[vj + 3]);
            a30 = p0.fma(v3, a30);
            a31 = p1.fma(v3, a31);
            a32 = p2.fma(v3, a32);
            a33 = p3.fma(v3, a33);
        }
        a00.intoArray(ot, oo);
        a01.intoArray(ot, oo + 1 * L);
        a02.intoArray(ot, oo + 2 * L);
        a03.intoArray(ot, oo + 3 * L);
        a10.intoArray(ot, oo + 1 * BQ);
        a11.intoArray(ot, oo + 1 * BQ + 1 * L);
        a12.intoArray(ot, oo + 1 * BQ + 2 * L);
        a13.intoArray(ot, oo + 1 * BQ + 3 * L);
        a20.intoArray(ot, oo + 2 * BQ);
        a21.intoArray(ot, oo + 2 * BQ + 1 * L);
        a22.intoArray(ot, oo + 2 * BQ + 2 * L);
        a23.intoArray(ot, oo + 2 * BQ + 3 * L);
        a30.intoArray(ot, oo + 3 * BQ);
        a31.intoArray(ot, oo + 3 * BQ + 1 * L);
        a32.intoArray(ot, oo + 3 * BQ + 2 * L);
        a33.intoArray(ot, oo + 3 * BQ + 3 * L);
    }

    /**
     * Accumulator rows c..c+3 × 3·L queries, transposed: {@code ot[(c+r)·BQ + i] = ot[..]·alpha[i]
     * + Σ_(j<w) vp[vo + j·dv + r] · p[j·BQ + i]}.
     */
    private static void pv4x3(float[] vp, int vo, int dv, int w, float[] p, float[] ot, int oo, float[] alpha) {
        FloatVector s0 = FloatVector.fromArray(SP, alpha, 0);
        FloatVector s1 = FloatVector.fromArray(SP, alpha, 1 * L);
        FloatVector s2 = FloatVector.fromArray(SP, alpha, 2 * L);
        FloatVector a00 = FloatVector.fromArray(SP, ot, oo).mul(s0);
        FloatVector a01 = FloatVector.fromArray(SP, ot, oo + 1 * L).mul(s1);
        FloatVector a02 = FloatVector.fromArray(SP, ot, oo + 2 * L).mul(s2);
        FloatVector a10 = FloatVector.fromArray(SP, ot, oo + 1 * BQ).mul(s0);
        FloatVector a11 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 1 * L).mul(s1);
        FloatVector a12 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 2 * L).mul(s2);
        FloatVector a20 = FloatVector.fromArray(SP, ot, oo + 2 * BQ).mul(s0);
        FloatVector a21 = FloatVector.fromArray(SP, ot, oo + 2 * BQ + 1 * L).mul(s1);
        FloatVector a22 = FloatVector.fromArray(SP, ot, oo + 2 * BQ + 2 * L).mul(s2);
        FloatVector a30 = FloatVector.fromArray(SP, ot, oo + 3 * BQ).mul(s0);
        FloatVector a31 = FloatVector.fromArray(SP, ot, oo + 3 * BQ + 1 * L).mul(s1);
        FloatVector a32 = FloatVector.fromArray(SP, ot, oo + 3 * BQ + 2 * L).mul(s2);
        for (int j = 0, vj = vo, pj = 0; j < w; j++, vj += dv, pj += BQ) {
            FloatVector p0 = FloatVector.fromArray(SP, p, pj);
            FloatVector p1 = FloatVector.fromArray(SP, p, pj + 1 * L);
            FloatVector p2 = FloatVector.fromArray(SP, p, pj + 2 * L);
            FloatVector v0 = FloatVector.broadcast(SP, vp[vj]);
            a00 = p0.fma(v0, a00);
            a01 = p1.fma(v0, a01);
            a02 = p2.fma(v0, a02);
            FloatVector v1 = FloatVector.broadcast(SP, vp[vj + 1]);
            a10 = p0.fma(v1, a10);
            a11 = p1.fma(v1, a11);
            a12 = p2.fma(v1, a12);
            FloatVector v2 = FloatVector.broadcast(SP, vp[vj + 2]);
            a20 = p0.fma(v2, a20);
            a21 = p1.fma(v2, a21);
            a22 = p2.fma(v2, a22);
            FloatVector v3 = FloatVector.broadcast(SP, vp[vj + 3]);
            a30 = p0.fma(v3, a30);
            a31 = p1.fma(v3, a31);
            a32 = p2.fma(v3, a32);
        }
        a00.intoArray(ot, oo);
        a01.intoArray(ot, oo + 1 * L);
        a02.intoArray(ot, oo + 2 * L);
        a10.intoArray(ot, oo + 1 * BQ);
        a11.intoArray(ot, oo + 1 * BQ + 1 * L);
        a12.intoArray(ot, oo + 1 * BQ + 2 * L);
        a20.intoArray(ot, oo + 2 * BQ);
        a21.intoArray(ot, oo + 2 * BQ + 1 * L);
        a22.intoArray(ot, oo + 2 * BQ + 2 * L);
        a30.intoArray(ot, oo + 3 * BQ);
        a31.intoArray(ot, oo + 3 * BQ + 1 * L);
        a32.intoArray(ot, oo + 3 * BQ + 2 * L);
    }

    /**
     * Accumulator rows c..c+3 × 2·L queries, transposed: {@code ot[(c+r)·BQ + i] = ot[..]·alpha[i]
     * + Σ_(j<w) vp[vo + j·dv + r] · p[j·BQ + i]}.
     */
    private static void pv4x2(float[] vp, int vo, int dv, int w, float[] p, float[] ot, int oo, float[] alpha) {
        FloatVector s0 = FloatVector.fromArray(SP, alpha, 0);
        FloatVector s1 = FloatVector.fromArray(SP, alpha, 1 * L);
        FloatVector a00 = FloatVector.fromArray(SP, ot, oo).mul(s0);
        FloatVector a01 = FloatVector.fromArray(SP, ot, oo + 1 * L).mul(s1);
        FloatVector a10 = FloatVector.fromArray(SP, ot, oo + 1 * BQ).mul(s0);
        FloatVector a11 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 1 * L).mul(s1);
        FloatVector a20 = FloatVector.fromArray(SP, ot, oo + 2 * BQ).mul(s0);
        FloatVector a21 = FloatVector.fromArray(SP, ot, oo + 2 * BQ + 1 * L).mul(s1);
        FloatVector a30 = FloatVector.fromArray(SP, ot, oo + 3 * BQ).mul(s0);
        FloatVector a31 = FloatVector.fromArray(SP, ot, oo + 3 * BQ + 1 * L).mul(s1);
        for (int j = 0, vj = vo, pj = 0; j < w; j++, vj += dv, pj += BQ) {
            FloatVector p0 = FloatVector.fromArray(SP, p, pj);
            FloatVector p1 = FloatVector.fromArray(SP, p, pj + 1 * L);
            FloatVector v0 = FloatVector.broadcast(SP, vp[vj]);
            a00 = p0.fma(v0, a00);
            a01 = p1.fma(v0, a01);
            FloatVector v1 = FloatVector.broadcast(SP, vp[vj + 1]);
            a10 = p0.fma(v1, a10);
            a11 = p1.fma(v1, a11);
            FloatVector v2 = FloatVector.broadcast(SP, vp[vj + 2]);
            a20 = p0.fma(v2, a20);
            a21 = p1.fma(v2, a21);
            FloatVector v3 = FloatVector.broadcast(SP, vp[vj + 3]);
            a30 = p0.fma(v3, a30);
            a31 = p1.fma(v3, a31);
        }
        a00.intoArray(ot, oo);
        a01.intoArray(ot, oo + 1 * L);
        a10.intoArray(ot, oo + 1 * BQ);
        a11.intoArray(ot, oo + 1 * BQ + 1 * L);
        a20.intoArray(ot, oo + 2 * BQ);
        a21.intoArray(ot, oo + 2 * BQ + 1 * L);
        a30.intoArray(ot, oo + 3 * BQ);
        a31.intoArray(ot, oo + 3 * BQ + 1 * L);
    }

    /**
     * Accumulator rows c..c+3 × 1·L queries, transposed: {@code ot[(c+r)·BQ + i] = ot[..]·alpha[i]
     * + Σ_(j<w) vp[vo + j·dv + r] · p[j·BQ + i]}.
     */
    private static void pv4x1(float[] vp, int vo, int dv, int w, float[] p, float[] ot, int oo, float[] alpha) {
        FloatVector s0 = FloatVector.fromArray(SP, alpha, 0);
        FloatVector a00 = FloatVector.fromArray(SP, ot, oo).mul(s0);
        FloatVector a10 = FloatVector.fromArray(SP, ot, oo + 1 * BQ).mul(s0);
        FloatVector a20 = FloatVector.fromArray(SP, ot, oo + 2 * BQ).mul(s0);
        FloatVector a30 = FloatVector.fromArray(SP, ot, oo + 3 * BQ).mul(s0);
        for (int j = 0, vj = vo, pj = 0; j < w; j++, vj += dv, pj += BQ) {
            FloatVector p0 = FloatVector.fromArray(SP, p, pj);
            FloatVector v0 = FloatVector.broadcast(SP, vp[vj]);
            a00 = p0.fma(v0, a00);
            FloatVector v1 = FloatVector.broadcast(SP, vp[vj + 1]);
            a10 = p0.fma(v1, a10);
            FloatVector v2 = FloatVector.broadcast(SP, vp[vj + 2]);
            a20 = p0.fma(v2, a20);
            FloatVector v3 = FloatVector.broadcast(SP, vp[vj + 3]);
            a30 = p0.fma(v3, a30);
        }
        a00.intoArray(ot, oo);
        a10.intoArray(ot, oo + 1 * BQ);
        a20.intoArray(ot, oo + 2 * BQ);
        a30.intoArray(ot, oo + 3 * BQ);
    }

}
