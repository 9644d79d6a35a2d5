package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ArrayAlignment;
import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Multi-head scaled dot-product attention in tiles with an online softmax (flash-attention style).
 *
 * <p>Everything runs "transposed": one vector lane per query. Per (batch, head) K and V are packed once:
 * K in groups of 6 keys, {@code [group][channel][key of the group]}, so the score kernel reads one
 * contiguous run of 6 floats per head-dimension step; V in groups of up to 6 channels,
 * {@code [channel group][key][channel of the group]}. A task owns one block of {@code BQ} = 4 vectors of
 * queries of one head; it transposes them to {@code Qt [d][BQ]} and walks the key blocks:
 * <ol>
 *   <li>{@code S^T [BK][BQ] = K_block · Qt}: micro-kernel of 6 broadcast keys × 4 query vectors (24
 *       accumulators, the contraction over the head dimension; blocks of 96 keys, or all keys in
 *       one block when there are at most {@code 2·BK});</li>
 *   <li>per query lane: {@code P = 2^(S - m)} against a running reference {@code m}, its sum {@code l};</li>
 *   <li>{@code Ot [d][BQ] = Ot·alpha + V_block^T · P^T} (6, 4 or 2 broadcast channels × 4 query vectors).</li>
 * </ol>
 * The tokens × tokens score matrix never exists: extra memory is one packed copy of K and V plus a few
 * tiles per thread.
 *
 * <p>The softmax keeps the maximum lazily. The first key block (and every block of a causal call, and a block
 * whose scores jump far above the reference) takes the classic online step: scores, their maximum, then
 * {@code 2^(S - max)}. Every later block starts the score accumulators at {@code -m} (so the kernel yields
 * {@code S - m} directly) and records the largest {@code S - m} per lane on the way out; the exponentials then
 * need no maximum pass. The reference is raised to the largest score seen after each block; what was
 * accumulated against the old one is rescaled by {@code alpha} when the next block is added. Scores may
 * exceed the reference by at most {@code HEADROOM} = 64 (base 2), so {@code P ≤ 2^64} and every sum stays
 * finite; a block with a larger jump is redone the classic way. The result does not depend on the
 * reference beyond rounding: softmax is invariant to the shift, and the reference never exceeds the largest
 * score seen, so the largest term is ≥ 1 and the ones flushed to 0 (below about {@code 2^-99.5}) are negligible
 * beside it.
 *
 * <p>Scores are kept in base 2: q is pre-multiplied by {@code scale · log2(e)} so the softmax needs
 * {@code 2^x}, computed as in {@link #exp2Neg} (range reduction to {@code [-0.5, 0.5]}, a degree-6 minimax
 * polynomial, within about 1 ulp).
 */
public final class Attention {
    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, SP.vectorShape());
    private static final int L = SP.length();
    /** Queries per task: 4 vectors, the width of every micro-kernel; also the row stride of every tile. */
    private static final int BQ = 4 * L;
    /**
     * Where the query, score and output tiles start in their arrays: on a cache line when the JVM aligns objects (see
     * ArrayAlignment), so that the kernels' vector loads and stores of them do not each split two lines.
     */
    private static final int TILE_OFF = ArrayAlignment.FLOAT_OFFSET;
    /** Keys per step of the score kernel (its broadcast rows). */
    private static final int KR = 6;
    /** Keys per block (a multiple of {@link #KR}), unless all keys fit in two. */
    private static final int BK = 96;
    /** How far (base 2) a score may exceed the lazy reference before its block is redone the classic way. */
    private static final int HEADROOM = 64;
    private static final float LOG2E = 1.4426950408889634f;
    /** Accumulator start of the padding keys of a group: their exponentials underflow. */
    private static final float PAD_SCORE = -1e30f;

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
        Tensor out = Tensor.empty(Shape.of(batch, tq, channels));
        if (batch == 0 || tq == 0 || channels == 0) {
            return out;
        }
        Tensor qh = heap(q);
        Tensor kh = heap(k);
        Tensor vh = heap(v);
        int d = channels / heads;
        // V channels padded to even: groups of 6, then one of 4 or 2.
        int dv = (d + 1) & ~1;
        int tkp = (tk + KR - 1) / KR * KR;
        int nHeads = batch * heads;
        long kpSize = (long) nHeads * tkp * d;
        long vpSize = (long) nHeads * tk * dv;
        if (Math.max(kpSize, vpSize) > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("attention: k " + k.shape() + " / v " + v.shape() + " with heads="
                    + heads + " too large to pack (" + Math.max(kpSize, vpSize) + " elements)");
        }
        // Packed copies live for this call only: reused storage inside a TensorScope.
        float[] kp = TensorScope.scratch((int) kpSize);
        float[] vp = TensorScope.scratch((int) vpSize);
        // Short key sequences (text: 77 tokens) in one block: a second, small block would cost a full round
        // of accumulator rescaling for a few keys.
        int bk = tkp <= 2 * BK ? tkp : BK;
        int kBlocks = (tk + bk - 1) / bk;
        Geometry g = new Geometry(heads, d, dv, channels, tq, tk, tkp, bk, causal, scale * LOG2E);

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
            Scratch sc = Scratch.of(g);
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
        TensorScope.release(kp);
        TensorScope.release(vp);
        return out;
    }

    private static Tensor heap(Tensor t) {
        return t.isHeap() ? t : t.toHeapF32();
    }

    /** Sizes shared by every task of one call. */
    private record Geometry(int heads, int d, int dv, int channels, int tq, int tk, int tkp, int bk,
                            boolean causal, float qScale, int[] rowIdx, int[] groupIdx) {
        Geometry(int heads, int d, int dv, int channels, int tq, int tk, int tkp, int bk, boolean causal,
                 float qScale) {
            this(heads, d, dv, channels, tq, tk, tkp, bk, causal, qScale, rowIndices(channels),
                    groupIndices(channels, d));
        }

        /**
         * Gather indices of a whole group of K in its packed order ({@code [channel][key of the group]}): packed
         * position p reads key {@code p % KR}, channel {@code p / KR}; up to a multiple of L, the rest unused.
         */
        private static int[] groupIndices(int channels, int d) {
            int[] idx = new int[(KR * d + L - 1) / L * L];
            for (int p = 0; p < KR * d; p++) {
                idx[p] = (p % KR) * channels + p / KR;
            }
            return idx;
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

    /**
     * Per-thread tiles, all with row stride {@code BQ} (one lane per query). Kept by each thread from call to call
     * ({@link #of}): made per chunk of tasks they were a U-Net step's largest garbage (85 MB), fresh memory each time.
     */
    private static final class Scratch {
        private static final ThreadLocal<Scratch> MINE = new ThreadLocal<>();

        final float[] qt;
        final float[] s;
        final float[] ot;
        final float[] m = new float[BQ];
        final float[] l = new float[BQ];
        final float[] alpha = new float[BQ];
        /** Accumulator starts of the score kernel: zeros (raw scores), {@code -m}, {@code -m} with padding rows. */
        final float[] zero = new float[KR * BQ];
        final float[] negM = new float[KR * BQ];
        final float[] negMTail = new float[KR * BQ];
        final int[] maxBits = new int[BQ];

        Scratch(int qtSize, int sSize, int otSize) {
            qt = new float[qtSize];
            s = new float[sSize];
            ot = new float[otSize];
        }

        /** Rows of Ot: up to a multiple of L too, as the output gather reads L rows from every multiple of L. */
        static int otRows(Geometry g) {
            return Math.max(g.dv(), (g.d() + L - 1) / L * L);
        }

        /** The calling thread's tiles, made (or made larger) for {@code g} when they do not fit it. */
        static Scratch of(Geometry g) {
            Scratch sc = MINE.get();
            int qtSize = TILE_OFF + g.d() * BQ;
            int sSize = TILE_OFF + g.bk() * BQ;
            int otSize = TILE_OFF + otRows(g) * BQ;
            if (sc == null || sc.qt.length < qtSize || sc.s.length < sSize || sc.ot.length < otSize) {
                sc = sc == null ? new Scratch(qtSize, sSize, otSize)
                        : new Scratch(Math.max(qtSize, sc.qt.length), Math.max(sSize, sc.s.length),
                        Math.max(otSize, sc.ot.length));
                MINE.set(sc);
            }
            return sc;
        }
    }

    /** Width of the V channel group that starts at {@code c0}: 6, then 4 or 2 for the rest. */
    private static int groupWidth(int dv, int c0) {
        return Math.min(6, dv - c0);
    }

    private static void packKv(Geometry g, Tensor k, Tensor v, int hd, int kb, float[] kp, float[] vp) {
        int d = g.d();
        int dv = g.dv();
        int tk = g.tk();
        int channels = g.channels();
        int b = hd / g.heads();
        int h = hd % g.heads();
        int kpHead = hd * g.tkp() * d;
        int vpHead = hd * tk * dv;
        float[] ka = k.array();
        float[] va = v.array();
        int j0 = kb * g.bk();
        int jEnd = Math.min(j0 + g.bk(), tk);
        int rowBase = (b * tk) * channels + h * d;
        // K: [group of KR keys][channel][key in group]; written in order, KR rows read side by side. Keys
        // tk..tkp of the last group stay zero.
        int groupLen = KR * d;
        int groupFull = groupLen - groupLen % L;
        for (int jg = j0; jg < jEnd; jg += KR) {
            int n = Math.min(KR, jEnd - jg);
            int dst = kpHead + jg * d;
            if (n == KR) {
                // A whole group by gathers, in packed order, rather than key by key with stores KR apart: 64 queries
                // over 4096 keys, 8 heads of 40 (packing a large part of the call), 5.4 -> 4.8 ms on 2 threads.
                packGroup(ka, k.offset() + rowBase + jg * channels, g.groupIdx(), groupLen, groupFull, kp, dst);
                continue;
            }
            for (int r = 0; r < n; r++) {
                int src = k.offset() + rowBase + (jg + r) * channels;
                for (int c = 0, o = dst + r; c < d; c++, o += KR) {
                    kp[o] = ka[src + c];
                }
            }
        }
        // V: [channel group][key][channel in group]; channel d of an odd head size stays zero.
        for (int c0 = 0; c0 < dv; c0 += 6) {
            int gw = groupWidth(dv, c0);
            int n = Math.min(gw, d - c0);
            int dst = vpHead + c0 * tk + j0 * gw;
            int src = v.offset() + rowBase + j0 * channels + c0;
            if (n <= L) {
                // One masked vector per key and group.
                VectorMask<Float> part = SP.indexInRange(0, n);
                for (int j = j0; j < jEnd; j++, dst += gw, src += channels) {
                    FloatVector.fromArray(SP, va, src, part).intoArray(vp, dst, part);
                }
            } else {
                for (int j = j0; j < jEnd; j++, dst += gw, src += channels) {
                    for (int r = 0; r < n; r++) {
                        vp[dst + r] = va[src + r];
                    }
                }
            }
        }
    }

    /** One whole group of K: {@code kp[dst + p] = ka[src + idx[p]]} for p < len, whole vectors up to {@code full}. */
    private static void packGroup(float[] ka, int src, int[] idx, int len, int full, float[] kp, int dst) {
        int p = 0;
        for (; p < full; p += L) {
            FloatVector.fromArray(SP, ka, src, idx, p).intoArray(kp, dst + p);
        }
        if (p < len) {
            VectorMask<Float> tail = SP.indexInRange(p, len);
            FloatVector.fromArray(SP, ka, src, idx, p, tail).intoArray(kp, dst + p, tail);
        }
    }

    private static void queryBlock(Geometry g, Scratch sc, Tensor q, float[] kp, float[] vp, Tensor out,
                                   int hd, int qb) {
        int d = g.d();
        int dv = g.dv();
        int tk = g.tk();
        int b = hd / g.heads();
        int h = hd % g.heads();
        int qs = qb * BQ;
        int rows = Math.min(BQ, g.tq() - qs);
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
            gatherQueries(qa, qBase, g.channels(), d, g.rowIdx(), qScale, qt);
        } else {
            for (int c = 0; c < d; c++) {
                Arrays.fill(qt, TILE_OFF + c * BQ + rows, TILE_OFF + c * BQ + BQ, 0f);
            }
            for (int r = 0; r < rows; r++) {
                int src = qBase + r * g.channels();
                for (int c = 0; c < d; c++) {
                    qt[TILE_OFF + c * BQ + r] = qa[src + c] * qScale;
                }
            }
        }
        // All the rows the output gather reads: a previous call's values there are not this one's.
        Arrays.fill(ot, TILE_OFF, TILE_OFF + Scratch.otRows(g) * BQ, 0f);
        // -MAX rather than -inf: m - mNew stays a number even before a row has seen a key.
        Arrays.fill(m, -Float.MAX_VALUE);
        Arrays.fill(l, 0f);
        Arrays.fill(alpha, 1f);

        int kEnd = g.causal() ? Math.min(tk, qs + rows) : tk;
        int kpHead = hd * g.tkp() * d;
        int vpHead = hd * tk * dv;
        int bk = g.bk();
        for (int ks = 0; ks < kEnd; ks += bk) {
            int w = Math.min(bk, kEnd - ks);
            int ko = kpHead + ks * d;
            // Later blocks of a non-causal call: the lazy reference (see the class comment).
            boolean lazy = ks > 0 && !g.causal() && lazyScores(sc, kp, ko, d, qt, s, w);
            if (!lazy) {
                for (int jr = 0; jr < w; jr += KR) {
                    qk6x4(kp, ko + jr * d, d, qt, sc.zero, s, TILE_OFF + jr * BQ, sc.maxBits);
                }
                // Causal: in a block that reaches past the first query, key j is hidden from queries i < j.
                boolean diagonal = g.causal() && ks + w - 1 > qs;
                for (int io = 0; io < BQ; io += L) {
                    if (diagonal) {
                        softmaxCausal(s, io, w, m, l, alpha, qs + io - ks);
                    } else {
                        softmax(s, io, w, m, l, alpha);
                    }
                }
            }
            // Ot = Ot·alpha + V_block^T · P^T, in channel groups of 6 (then 4 or 2).
            for (int c0 = 0; c0 < dv; c0 += 6) {
                int vo = vpHead + c0 * tk + ks * groupWidth(dv, c0);
                switch (groupWidth(dv, c0)) {
                    case 6 -> pv6x4(vp, vo, w, s, ot, TILE_OFF + c0 * BQ, alpha);
                    case 4 -> pv4x4(vp, vo, w, s, ot, TILE_OFF + c0 * BQ, alpha);
                    default -> pv2x4(vp, vo, w, s, ot, TILE_OFF + c0 * BQ, alpha);
                }
            }
            if (lazy) {
                raiseReference(sc);
            } else {
                Arrays.fill(alpha, 1f);
            }
        }
        // out = Ot^T / l (see scatterOutput).
        for (int io = 0; io < BQ; io += L) {
            FloatVector.broadcast(SP, 1f).div(FloatVector.fromArray(SP, l, io)).intoArray(alpha, io);
        }
        scatterOutput(ot, alpha, rows, d, out.array(), out.offset() + (b * g.tq() + qs) * g.channels() + h * d,
                g.channels());
    }

    // The two gathers in methods of their own: inside queryBlock, C2 sometimes (depending on the order in which it
    // compiled things) called the gather's Java implementation out of line instead of the intrinsic, boxing its index
    // vectors: 0.6 GB of garbage per U-Net step in those JVM runs.

    /** Queries transposed into {@code qt} ({@code [c][query]}) and scaled: one gather per (channel, query vector). */
    private static void gatherQueries(float[] qa, int qBase, int channels, int d, int[] rowIdx, float qScale,
                                      float[] qt) {
        for (int io = 0; io < BQ; io += L) {
            int src = qBase + io * channels;
            for (int c = 0; c < d; c++) {
                FloatVector.fromArray(SP, qa, src + c, rowIdx, 0).mul(qScale).intoArray(qt, TILE_OFF + c * BQ + io);
            }
        }
    }

    /**
     * {@code out = Ot^T / l}: per query row r (from {@code dst0}, {@code channels} apart), L channels of Ot gathered
     * (stride BQ), scaled by {@code inv[r]}, stored contiguously.
     */
    private static void scatterOutput(float[] ot, float[] inv, int rows, int d, float[] oa, int dst0, int channels) {
        int dFull = d - d % L;
        VectorMask<Float> tail = SP.indexInRange(dFull, d);
        for (int r = 0; r < rows; r++) {
            int dst = dst0 + r * channels;
            float s = inv[r];
            int c = 0;
            for (; c < dFull; c += L) {
                FloatVector.fromArray(SP, ot, TILE_OFF + c * BQ + r, CH_IDX, 0).mul(s).intoArray(oa, dst + c);
            }
            if (c < d) {
                // ot has rows up to a multiple of L: the gather stays inside it; the store is masked.
                FloatVector.fromArray(SP, ot, TILE_OFF + c * BQ + r, CH_IDX, 0).mul(s).intoArray(oa, dst + c, tail);
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
     * Scores of one key block against the lazy reference: {@code s = 2^(S - m)} for the {@code w} keys, the
     * lane sums folded into {@code l} (after its pending {@code alpha}), the largest {@code S - m} left in
     * {@code maxBits}. Returns false, having changed nothing but {@code s}, when some score exceeds the
     * reference by more than {@link #HEADROOM}: the caller redoes the block the classic way.
     */
    private static boolean lazyScores(Scratch sc, float[] kp, int ko, int d, float[] qt, float[] s, int w) {
        float[] negM = sc.negM;
        float[] negMTail = sc.negMTail;
        int valid = w % KR;
        for (int io = 0; io < BQ; io += L) {
            FloatVector nm = FloatVector.fromArray(SP, sc.m, io).neg();
            for (int r = 0; r < KR; r++) {
                nm.intoArray(negM, r * BQ + io);
                (valid == 0 || r < valid ? nm : FloatVector.broadcast(SP, PAD_SCORE)).intoArray(negMTail, r * BQ + io);
            }
        }
        Arrays.fill(sc.maxBits, Integer.MIN_VALUE);
        int wFull = w - valid;
        for (int jr = 0; jr < wFull; jr += KR) {
            qk6x4(kp, ko + jr * d, d, qt, negM, s, TILE_OFF + jr * BQ, sc.maxBits);
        }
        if (valid > 0) {
            qk6x4(kp, ko + wFull * d, d, qt, negMTail, s, TILE_OFF + wFull * BQ, sc.maxBits);
        }
        // maxBits holds the largest S - m as int bits: exact when it is ≥ 0 (see raiseReference).
        for (int io = 0; io < BQ; io += L) {
            IntVector mb = IntVector.fromArray(IS, sc.maxBits, io);
            if (mb.reinterpretAsFloats().compare(VectorOperators.GT, (float) HEADROOM).anyTrue()) {
                return false;
            }
        }
        expRows(s, w, sc.l, sc.alpha);
        return true;
    }

    /**
     * After a lazy block: raises {@code m} by the block's largest {@code S - m} where that is positive and
     * leaves in {@code alpha} the factor that brings {@code Ot} and {@code l} over to the new reference.
     * {@code maxBits} is the signed-int maximum of the float bits: every negative float orders below every
     * non-negative one that way, and among non-negative floats the int order is the float order.
     */
    private static void raiseReference(Scratch sc) {
        for (int io = 0; io < BQ; io += L) {
            IntVector mb = IntVector.fromArray(IS, sc.maxBits, io);
            FloatVector inc = mb.max(0).reinterpretAsFloats();
            FloatVector.fromArray(SP, sc.m, io).add(inc).intoArray(sc.m, io);
            exp2Neg(inc.neg()).intoArray(sc.alpha, io);
        }
    }

    /**
     * Online-softmax step for the L queries at lane offset {@code io} over the {@code w} key rows of a score
     * tile: updates the running maximum {@code m} and sum {@code l}, turns the scores into probabilities
     * in place and leaves in {@code alpha} the factor for what was accumulated before (times the pending one).
     */
    private static void softmax(float[] s, int io, int w, float[] m, float[] l, float[] alpha) {
        // Two partial maxima: one chain would wait on the max latency at every key.
        FloatVector mx0 = FloatVector.fromArray(SP, s, TILE_OFF + io);
        FloatVector mx1 = mx0;
        int j = 1;
        int so = TILE_OFF + io + BQ;
        for (; j + 2 <= w; j += 2, so += 2 * BQ) {
            mx0 = mx0.max(FloatVector.fromArray(SP, s, so));
            mx1 = mx1.max(FloatVector.fromArray(SP, s, so + BQ));
        }
        if (j < w) {
            mx0 = mx0.max(FloatVector.fromArray(SP, s, so));
        }
        FloatVector mOld = FloatVector.fromArray(SP, m, io);
        FloatVector mNew = mOld.max(mx0.max(mx1));
        FloatVector a = exp2Neg(mOld.sub(mNew)).mul(FloatVector.fromArray(SP, alpha, io));
        a.intoArray(alpha, io);
        mNew.intoArray(m, io);
        FloatVector sum = FloatVector.zero(SP);
        FloatVector c1 = FloatVector.broadcast(SP, P1);
        FloatVector c2 = FloatVector.broadcast(SP, P2);
        FloatVector c3 = FloatVector.broadcast(SP, P3);
        FloatVector c4 = FloatVector.broadcast(SP, P4);
        FloatVector one = FloatVector.broadcast(SP, P0);
        for (j = 0, so = TILE_OFF + io; j < w; j++, so += BQ) {
            // exp2Clamped written out: C2 gives up inlining it here (node count) and would box the vectors.
            FloatVector x = FloatVector.fromArray(SP, s, so).sub(mNew);
            FloatVector xc = ((IntVector) x.reinterpretAsInts()).lanewise(VectorOperators.UMIN, CLAMP_BITS)
                    .reinterpretAsFloats();
            FloatVector t = xc.add(MAGIC_BIAS);
            FloatVector f = xc.sub(t.sub(MAGIC_BIAS));
            FloatVector p = f.fma(P6, P5).fma(f, c4).fma(f, c3).fma(f, c2).fma(f, c1).fma(f, one)
                    .mul(((IntVector) t.reinterpretAsInts()).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
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
        for (int j = 0, so = TILE_OFF + io; j < w; j++, so += BQ) {
            VectorMask<Float> hidden = lane.lt(j).cast(SP);
            FloatVector sv = FloatVector.fromArray(SP, s, so).blend(Float.NEGATIVE_INFINITY, hidden);
            mx = mx.max(sv);
        }
        FloatVector mOld = FloatVector.fromArray(SP, m, io);
        FloatVector mNew = mOld.max(mx);
        FloatVector a = exp2Neg(mOld.sub(mNew)).mul(FloatVector.fromArray(SP, alpha, io));
        a.intoArray(alpha, io);
        mNew.intoArray(m, io);
        FloatVector sum = FloatVector.zero(SP);
        for (int j = 0, so = TILE_OFF + io; j < w; j++, so += BQ) {
            VectorMask<Float> hidden = lane.lt(j).cast(SP);
            FloatVector p = exp2Neg(FloatVector.fromArray(SP, s, so).sub(mNew)).blend(0f, hidden);
            p.intoArray(s, so);
            sum = sum.add(p);
        }
        FloatVector.fromArray(SP, l, io).fma(a, sum).intoArray(l, io);
    }

    private static final float MAGIC = 12582912f; // 1.5 · 2^23: adding it rounds to an integer in the low bits
    /**
     * The same, with a bias of 100 added on the way: 2^n is built as {@code 2^(n - 27)} (exponent field n + 100) times
     * a polynomial scaled by 2^27, so that n = -100, the clamp, gives an exponent field of 0 and the exponential is
     * exactly 0 below about 2^-99.5 instead of a tiny normal: the product of such a probability and a value under 1
     * would be subnormal, and each vector operation that makes one takes a microcode assist (attention over widely
     * spread scores, 2^-126 times every value, ran up to 17x slower). Down to 2^-99.5 the values stay exact: the
     * rescaling factor of a lazy block may be as small as 2^-HEADROOM. Scaling by powers of 2 rounds the same, so
     * every value above the threshold keeps its bits.
     */
    private static final float MAGIC_BIAS = MAGIC + 100f;
    /** Bits of -100f: as unsigned ints, every float below it (and -inf) compares above, every other below. */
    private static final int CLAMP_BITS = Float.floatToRawIntBits(-100f);
    private static final float SCALE = 0x1p27f;
    // Minimax (relative error) polynomial for 2^f on [-0.5, 0.5], degree 6: error 2e-9, about 1 ulp in float; its
    // coefficients times SCALE (see MAGIC_BIAS).
    private static final float P0 = SCALE;
    private static final float P1 = 0.6931471824645996f * SCALE;
    private static final float P2 = 0.24022647738456726f * SCALE;
    private static final float P3 = 0.055503323674201965f * SCALE;
    private static final float P4 = 0.00961843691766262f * SCALE;
    private static final float P5 = 0.0013398875016719103f * SCALE;
    private static final float P6 = 0.00015353360504377633f * SCALE;

    /**
     * {@code 2^x} lane-wise for {@code x <= 0}, within about 1 ulp down to {@code x = -99.5}; below that (including
     * -inf) exactly 0, negligible against a softmax sum ≥ 1 (see {@link #MAGIC_BIAS} for why not a tiny normal).
     * x = n + f with n an integer and |f| ≤ 0.5; 2^n is built in the exponent bits.
     */
    static FloatVector exp2Neg(FloatVector x) {
        FloatVector xc = x.max(-100f);
        FloatVector t = xc.add(MAGIC);
        FloatVector n = t.sub(MAGIC);
        FloatVector f = xc.sub(n);
        FloatVector p = f.fma(P6, P5).fma(f, FloatVector.broadcast(SP, P4)).fma(f, FloatVector.broadcast(SP, P3))
                .fma(f, FloatVector.broadcast(SP, P2)).fma(f, FloatVector.broadcast(SP, P1))
                .fma(f, FloatVector.broadcast(SP, P0));
        // The low bits of t hold n (two's complement, |n| < 2^22); shifting n + 100 into the exponent field
        // pushes the magic constant's bits out.
        IntVector bits = ((IntVector) t.reinterpretAsInts()).add(100).lanewise(VectorOperators.LSHL, 23);
        return p.mul((FloatVector) bits.reinterpretAsFloats());
    }

    /**
     * {@link #exp2Neg(FloatVector)} for {@code x <= HEADROOM}, the same value, in fewer instructions for the
     * hot loops: the clamp at -100 is one unsigned integer minimum on the bits (a float {@code max} takes
     * several, for its NaN and signed-zero rules), and the exponent bias rides in the rounding constant.
     */
    static FloatVector exp2Clamped(FloatVector x) {
        FloatVector xc = ((IntVector) x.reinterpretAsInts()).lanewise(VectorOperators.UMIN, CLAMP_BITS)
                .reinterpretAsFloats();
        FloatVector t = xc.add(MAGIC_BIAS);
        FloatVector f = xc.sub(t.sub(MAGIC_BIAS));
        FloatVector p = f.fma(P6, P5).fma(f, FloatVector.broadcast(SP, P4)).fma(f, FloatVector.broadcast(SP, P3))
                .fma(f, FloatVector.broadcast(SP, P2)).fma(f, FloatVector.broadcast(SP, P1))
                .fma(f, FloatVector.broadcast(SP, P0));
        return p.mul(((IntVector) t.reinterpretAsInts()).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
    }

    /** Scalar twin of {@link #exp2Neg(FloatVector)}, for tests. */
    static float exp2Neg(float x) {
        return exp2Neg(FloatVector.broadcast(SP, x)).lane(0);
    }

    /** Scalar twin of {@link #exp2Clamped(FloatVector)}, for tests. */
    static float exp2Clamped(float x) {
        return exp2Clamped(FloatVector.broadcast(SP, x)).lane(0);
    }

    /**
     * The exponential pass of a lazy block: {@code s = 2^s} for rows {@code [0, w)} of the tile (the scores
     * already have the reference subtracted), and {@code l = l·alpha + Σ_rows}. The exponential is written out
     * ({@link #exp2Clamped}): C2 would not inline it into this loop and would box the vectors.
     */
    private static void expRows(float[] s, int w, float[] l, float[] alpha) {
        FloatVector c1 = FloatVector.broadcast(SP, P1);
        FloatVector c2 = FloatVector.broadcast(SP, P2);
        FloatVector c3 = FloatVector.broadcast(SP, P3);
        FloatVector c4 = FloatVector.broadcast(SP, P4);
        FloatVector one = FloatVector.broadcast(SP, P0);
        FloatVector sum0 = FloatVector.zero(SP);
        FloatVector sum1 = FloatVector.zero(SP);
        FloatVector sum2 = FloatVector.zero(SP);
        FloatVector sum3 = FloatVector.zero(SP);
        for (int j = 0; j < w; j++) {
            int so = TILE_OFF + j * BQ;
            FloatVector x0 = FloatVector.fromArray(SP, s, so + 0 * L);
            FloatVector p0c = ((IntVector) x0.reinterpretAsInts()).lanewise(VectorOperators.UMIN, CLAMP_BITS)
                    .reinterpretAsFloats();
            FloatVector p0t = p0c.add(MAGIC_BIAS);
            FloatVector p0f = p0c.sub(p0t.sub(MAGIC_BIAS));
            FloatVector p0 = p0f.fma(P6, P5).fma(p0f, c4).fma(p0f, c3).fma(p0f, c2).fma(p0f, c1)
                    .fma(p0f, one)
                    .mul(((IntVector) p0t.reinterpretAsInts()).lanewise(VectorOperators.LSHL, 23)
                            .reinterpretAsFloats());
            p0.intoArray(s, so + 0 * L);
            sum0 = sum0.add(p0);
            FloatVector x1 = FloatVector.fromArray(SP, s, so + 1 * L);
            FloatVector p1c = ((IntVector) x1.reinterpretAsInts()).lanewise(VectorOperators.UMIN, CLAMP_BITS)
                    .reinterpretAsFloats();
            FloatVector p1t = p1c.add(MAGIC_BIAS);
            FloatVector p1f = p1c.sub(p1t.sub(MAGIC_BIAS));
            FloatVector p1 = p1f.fma(P6, P5).fma(p1f, c4).fma(p1f, c3).fma(p1f, c2).fma(p1f, c1)
                    .fma(p1f, one)
                    .mul(((IntVector) p1t.reinterpretAsInts()).lanewise(VectorOperators.LSHL, 23)
                            .reinterpretAsFloats());
            p1.intoArray(s, so + 1 * L);
            sum1 = sum1.add(p1);
            FloatVector x2 = FloatVector.fromArray(SP, s, so + 2 * L);
            FloatVector p2c = ((IntVector) x2.reinterpretAsInts()).lanewise(VectorOperators.UMIN, CLAMP_BITS)
                    .reinterpretAsFloats();
            FloatVector p2t = p2c.add(MAGIC_BIAS);
            FloatVector p2f = p2c.sub(p2t.sub(MAGIC_BIAS));
            FloatVector p2 = p2f.fma(P6, P5).fma(p2f, c4).fma(p2f, c3).fma(p2f, c2).fma(p2f, c1)
                    .fma(p2f, one)
                    .mul(((IntVector) p2t.reinterpretAsInts()).lanewise(VectorOperators.LSHL, 23)
                            .reinterpretAsFloats());
            p2.intoArray(s, so + 2 * L);
            sum2 = sum2.add(p2);
            FloatVector x3 = FloatVector.fromArray(SP, s, so + 3 * L);
            FloatVector p3c = ((IntVector) x3.reinterpretAsInts()).lanewise(VectorOperators.UMIN, CLAMP_BITS)
                    .reinterpretAsFloats();
            FloatVector p3t = p3c.add(MAGIC_BIAS);
            FloatVector p3f = p3c.sub(p3t.sub(MAGIC_BIAS));
            FloatVector p3 = p3f.fma(P6, P5).fma(p3f, c4).fma(p3f, c3).fma(p3f, c2).fma(p3f, c1)
                    .fma(p3f, one)
                    .mul(((IntVector) p3t.reinterpretAsInts()).lanewise(VectorOperators.LSHL, 23)
                            .reinterpretAsFloats());
            p3.intoArray(s, so + 3 * L);
            sum3 = sum3.add(p3);
        }
        FloatVector.fromArray(SP, l, 0 * L).fma(FloatVector.fromArray(SP, alpha, 0 * L), sum0)
                .intoArray(l, 0 * L);
        FloatVector.fromArray(SP, l, 1 * L).fma(FloatVector.fromArray(SP, alpha, 1 * L), sum1)
                .intoArray(l, 1 * L);
        FloatVector.fromArray(SP, l, 2 * L).fma(FloatVector.fromArray(SP, alpha, 2 * L), sum2)
                .intoArray(l, 2 * L);
        FloatVector.fromArray(SP, l, 3 * L).fma(FloatVector.fromArray(SP, alpha, 3 * L), sum3)
                .intoArray(l, 3 * L);
    }

    /**
     * Scores of 6 keys × 4·L queries minus the running maximum, transposed: {@code s[so + r·BQ + i] =
     * init[r·BQ + i] + Σ_c kp[ko + 6c + r] · qt[TILE_OFF + c·BQ + i]} (K packed 6 keys per head-dimension step). The
     * lane-wise largest score, as int bits (see {@link #maxBits}), goes into {@code maxBits[i]}.
     */
    private static void qk6x4(float[] kp, int ko, int d, float[] qt, float[] init, float[] s, int so,
                               int[] maxBits) {
        FloatVector a00 = FloatVector.fromArray(SP, init, 0 * BQ + 0 * L);
        FloatVector a01 = FloatVector.fromArray(SP, init, 0 * BQ + 1 * L);
        FloatVector a02 = FloatVector.fromArray(SP, init, 0 * BQ + 2 * L);
        FloatVector a03 = FloatVector.fromArray(SP, init, 0 * BQ + 3 * L);
        FloatVector a10 = FloatVector.fromArray(SP, init, 1 * BQ + 0 * L);
        FloatVector a11 = FloatVector.fromArray(SP, init, 1 * BQ + 1 * L);
        FloatVector a12 = FloatVector.fromArray(SP, init, 1 * BQ + 2 * L);
        FloatVector a13 = FloatVector.fromArray(SP, init, 1 * BQ + 3 * L);
        FloatVector a20 = FloatVector.fromArray(SP, init, 2 * BQ + 0 * L);
        FloatVector a21 = FloatVector.fromArray(SP, init, 2 * BQ + 1 * L);
        FloatVector a22 = FloatVector.fromArray(SP, init, 2 * BQ + 2 * L);
        FloatVector a23 = FloatVector.fromArray(SP, init, 2 * BQ + 3 * L);
        FloatVector a30 = FloatVector.fromArray(SP, init, 3 * BQ + 0 * L);
        FloatVector a31 = FloatVector.fromArray(SP, init, 3 * BQ + 1 * L);
        FloatVector a32 = FloatVector.fromArray(SP, init, 3 * BQ + 2 * L);
        FloatVector a33 = FloatVector.fromArray(SP, init, 3 * BQ + 3 * L);
        FloatVector a40 = FloatVector.fromArray(SP, init, 4 * BQ + 0 * L);
        FloatVector a41 = FloatVector.fromArray(SP, init, 4 * BQ + 1 * L);
        FloatVector a42 = FloatVector.fromArray(SP, init, 4 * BQ + 2 * L);
        FloatVector a43 = FloatVector.fromArray(SP, init, 4 * BQ + 3 * L);
        FloatVector a50 = FloatVector.fromArray(SP, init, 5 * BQ + 0 * L);
        FloatVector a51 = FloatVector.fromArray(SP, init, 5 * BQ + 1 * L);
        FloatVector a52 = FloatVector.fromArray(SP, init, 5 * BQ + 2 * L);
        FloatVector a53 = FloatVector.fromArray(SP, init, 5 * BQ + 3 * L);
        for (int c = 0; c < d; c++) {
            int qc = TILE_OFF + c * BQ;
            int kc = ko + 6 * c;
            FloatVector q0 = FloatVector.fromArray(SP, qt, qc + 0 * L);
            FloatVector q1 = FloatVector.fromArray(SP, qt, qc + 1 * L);
            FloatVector q2 = FloatVector.fromArray(SP, qt, qc + 2 * L);
            FloatVector q3 = FloatVector.fromArray(SP, qt, qc + 3 * L);
            FloatVector k0 = FloatVector.broadcast(SP, kp[kc + 0]);
            a00 = q0.fma(k0, a00);
            a01 = q1.fma(k0, a01);
            a02 = q2.fma(k0, a02);
            a03 = q3.fma(k0, a03);
            FloatVector k1 = FloatVector.broadcast(SP, kp[kc + 1]);
            a10 = q0.fma(k1, a10);
            a11 = q1.fma(k1, a11);
            a12 = q2.fma(k1, a12);
            a13 = q3.fma(k1, a13);
            FloatVector k2 = FloatVector.broadcast(SP, kp[kc + 2]);
            a20 = q0.fma(k2, a20);
            a21 = q1.fma(k2, a21);
            a22 = q2.fma(k2, a22);
            a23 = q3.fma(k2, a23);
            FloatVector k3 = FloatVector.broadcast(SP, kp[kc + 3]);
            a30 = q0.fma(k3, a30);
            a31 = q1.fma(k3, a31);
            a32 = q2.fma(k3, a32);
            a33 = q3.fma(k3, a33);
            FloatVector k4 = FloatVector.broadcast(SP, kp[kc + 4]);
            a40 = q0.fma(k4, a40);
            a41 = q1.fma(k4, a41);
            a42 = q2.fma(k4, a42);
            a43 = q3.fma(k4, a43);
            FloatVector k5 = FloatVector.broadcast(SP, kp[kc + 5]);
            a50 = q0.fma(k5, a50);
            a51 = q1.fma(k5, a51);
            a52 = q2.fma(k5, a52);
            a53 = q3.fma(k5, a53);
        }
        IntVector m0 = IntVector.fromArray(IS, maxBits, 0 * L);
        IntVector m1 = IntVector.fromArray(IS, maxBits, 1 * L);
        IntVector m2 = IntVector.fromArray(IS, maxBits, 2 * L);
        IntVector m3 = IntVector.fromArray(IS, maxBits, 3 * L);
        a00.intoArray(s, so + 0 * BQ + 0 * L);
        a01.intoArray(s, so + 0 * BQ + 1 * L);
        a02.intoArray(s, so + 0 * BQ + 2 * L);
        a03.intoArray(s, so + 0 * BQ + 3 * L);
        m0 = m0.lanewise(VectorOperators.MAX, a00.reinterpretAsInts());
        m1 = m1.lanewise(VectorOperators.MAX, a01.reinterpretAsInts());
        m2 = m2.lanewise(VectorOperators.MAX, a02.reinterpretAsInts());
        m3 = m3.lanewise(VectorOperators.MAX, a03.reinterpretAsInts());
        a10.intoArray(s, so + 1 * BQ + 0 * L);
        a11.intoArray(s, so + 1 * BQ + 1 * L);
        a12.intoArray(s, so + 1 * BQ + 2 * L);
        a13.intoArray(s, so + 1 * BQ + 3 * L);
        m0 = m0.lanewise(VectorOperators.MAX, a10.reinterpretAsInts());
        m1 = m1.lanewise(VectorOperators.MAX, a11.reinterpretAsInts());
        m2 = m2.lanewise(VectorOperators.MAX, a12.reinterpretAsInts());
        m3 = m3.lanewise(VectorOperators.MAX, a13.reinterpretAsInts());
        a20.intoArray(s, so + 2 * BQ + 0 * L);
        a21.intoArray(s, so + 2 * BQ + 1 * L);
        a22.intoArray(s, so + 2 * BQ + 2 * L);
        a23.intoArray(s, so + 2 * BQ + 3 * L);
        m0 = m0.lanewise(VectorOperators.MAX, a20.reinterpretAsInts());
        m1 = m1.lanewise(VectorOperators.MAX, a21.reinterpretAsInts());
        m2 = m2.lanewise(VectorOperators.MAX, a22.reinterpretAsInts());
        m3 = m3.lanewise(VectorOperators.MAX, a23.reinterpretAsInts());
        a30.intoArray(s, so + 3 * BQ + 0 * L);
        a31.intoArray(s, so + 3 * BQ + 1 * L);
        a32.intoArray(s, so + 3 * BQ + 2 * L);
        a33.intoArray(s, so + 3 * BQ + 3 * L);
        m0 = m0.lanewise(VectorOperators.MAX, a30.reinterpretAsInts());
        m1 = m1.lanewise(VectorOperators.MAX, a31.reinterpretAsInts());
        m2 = m2.lanewise(VectorOperators.MAX, a32.reinterpretAsInts());
        m3 = m3.lanewise(VectorOperators.MAX, a33.reinterpretAsInts());
        a40.intoArray(s, so + 4 * BQ + 0 * L);
        a41.intoArray(s, so + 4 * BQ + 1 * L);
        a42.intoArray(s, so + 4 * BQ + 2 * L);
        a43.intoArray(s, so + 4 * BQ + 3 * L);
        m0 = m0.lanewise(VectorOperators.MAX, a40.reinterpretAsInts());
        m1 = m1.lanewise(VectorOperators.MAX, a41.reinterpretAsInts());
        m2 = m2.lanewise(VectorOperators.MAX, a42.reinterpretAsInts());
        m3 = m3.lanewise(VectorOperators.MAX, a43.reinterpretAsInts());
        a50.intoArray(s, so + 5 * BQ + 0 * L);
        a51.intoArray(s, so + 5 * BQ + 1 * L);
        a52.intoArray(s, so + 5 * BQ + 2 * L);
        a53.intoArray(s, so + 5 * BQ + 3 * L);
        m0 = m0.lanewise(VectorOperators.MAX, a50.reinterpretAsInts());
        m1 = m1.lanewise(VectorOperators.MAX, a51.reinterpretAsInts());
        m2 = m2.lanewise(VectorOperators.MAX, a52.reinterpretAsInts());
        m3 = m3.lanewise(VectorOperators.MAX, a53.reinterpretAsInts());
        m0.intoArray(maxBits, 0 * L);
        m1.intoArray(maxBits, 1 * L);
        m2.intoArray(maxBits, 2 * L);
        m3.intoArray(maxBits, 3 * L);
    }

    /**
     * Output rows c..c+5 × 4·L queries, transposed: {@code ot[(c+r)·BQ + i] = ot[..]·alpha[i]
     * + Σ_(j<w) vp[vo + 6j + r] · p[TILE_OFF + j·BQ + i]} (V packed 6 channels per key).
     */
    private static void pv6x4(float[] vp, int vo, int w, float[] p, float[] ot, int oo, float[] alpha) {
        FloatVector s0 = FloatVector.fromArray(SP, alpha, 0 * L);
        FloatVector s1 = FloatVector.fromArray(SP, alpha, 1 * L);
        FloatVector s2 = FloatVector.fromArray(SP, alpha, 2 * L);
        FloatVector s3 = FloatVector.fromArray(SP, alpha, 3 * L);
        FloatVector a00 = FloatVector.fromArray(SP, ot, oo + 0 * BQ + 0 * L)
                .mul(s0);
        FloatVector a01 = FloatVector.fromArray(SP, ot, oo + 0 * BQ + 1 * L)
                .mul(s1);
        FloatVector a02 = FloatVector.fromArray(SP, ot, oo + 0 * BQ + 2 * L)
                .mul(s2);
        FloatVector a03 = FloatVector.fromArray(SP, ot, oo + 0 * BQ + 3 * L)
                .mul(s3);
        FloatVector a10 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 0 * L)
                .mul(s0);
        FloatVector a11 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 1 * L)
                .mul(s1);
        FloatVector a12 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 2 * L)
                .mul(s2);
        FloatVector a13 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 3 * L)
                .mul(s3);
        FloatVector a20 = FloatVector.fromArray(SP, ot, oo + 2 * BQ + 0 * L)
                .mul(s0);
        FloatVector a21 = FloatVector.fromArray(SP, ot, oo + 2 * BQ + 1 * L)
                .mul(s1);
        FloatVector a22 = FloatVector.fromArray(SP, ot, oo + 2 * BQ + 2 * L)
                .mul(s2);
        FloatVector a23 = FloatVector.fromArray(SP, ot, oo + 2 * BQ + 3 * L)
                .mul(s3);
        FloatVector a30 = FloatVector.fromArray(SP, ot, oo + 3 * BQ + 0 * L)
                .mul(s0);
        FloatVector a31 = FloatVector.fromArray(SP, ot, oo + 3 * BQ + 1 * L)
                .mul(s1);
        FloatVector a32 = FloatVector.fromArray(SP, ot, oo + 3 * BQ + 2 * L)
                .mul(s2);
        FloatVector a33 = FloatVector.fromArray(SP, ot, oo + 3 * BQ + 3 * L)
                .mul(s3);
        FloatVector a40 = FloatVector.fromArray(SP, ot, oo + 4 * BQ + 0 * L)
                .mul(s0);
        FloatVector a41 = FloatVector.fromArray(SP, ot, oo + 4 * BQ + 1 * L)
                .mul(s1);
        FloatVector a42 = FloatVector.fromArray(SP, ot, oo + 4 * BQ + 2 * L)
                .mul(s2);
        FloatVector a43 = FloatVector.fromArray(SP, ot, oo + 4 * BQ + 3 * L)
                .mul(s3);
        FloatVector a50 = FloatVector.fromArray(SP, ot, oo + 5 * BQ + 0 * L)
                .mul(s0);
        FloatVector a51 = FloatVector.fromArray(SP, ot, oo + 5 * BQ + 1 * L)
                .mul(s1);
        FloatVector a52 = FloatVector.fromArray(SP, ot, oo + 5 * BQ + 2 * L)
                .mul(s2);
        FloatVector a53 = FloatVector.fromArray(SP, ot, oo + 5 * BQ + 3 * L)
                .mul(s3);
        for (int j = 0; j < w; j++) {
            int pj = TILE_OFF + j * BQ;
            int vj = vo + 6 * j;
            FloatVector p0 = FloatVector.fromArray(SP, p, pj + 0 * L);
            FloatVector p1 = FloatVector.fromArray(SP, p, pj + 1 * L);
            FloatVector p2 = FloatVector.fromArray(SP, p, pj + 2 * L);
            FloatVector p3 = FloatVector.fromArray(SP, p, pj + 3 * L);
            FloatVector v0 = FloatVector.broadcast(SP, vp[vj + 0]);
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
            FloatVector v4 = FloatVector.broadcast(SP, vp[vj + 4]);
            a40 = p0.fma(v4, a40);
            a41 = p1.fma(v4, a41);
            a42 = p2.fma(v4, a42);
            a43 = p3.fma(v4, a43);
            FloatVector v5 = FloatVector.broadcast(SP, vp[vj + 5]);
            a50 = p0.fma(v5, a50);
            a51 = p1.fma(v5, a51);
            a52 = p2.fma(v5, a52);
            a53 = p3.fma(v5, a53);
        }
        a00.intoArray(ot, oo + 0 * BQ + 0 * L);
        a01.intoArray(ot, oo + 0 * BQ + 1 * L);
        a02.intoArray(ot, oo + 0 * BQ + 2 * L);
        a03.intoArray(ot, oo + 0 * BQ + 3 * L);
        a10.intoArray(ot, oo + 1 * BQ + 0 * L);
        a11.intoArray(ot, oo + 1 * BQ + 1 * L);
        a12.intoArray(ot, oo + 1 * BQ + 2 * L);
        a13.intoArray(ot, oo + 1 * BQ + 3 * L);
        a20.intoArray(ot, oo + 2 * BQ + 0 * L);
        a21.intoArray(ot, oo + 2 * BQ + 1 * L);
        a22.intoArray(ot, oo + 2 * BQ + 2 * L);
        a23.intoArray(ot, oo + 2 * BQ + 3 * L);
        a30.intoArray(ot, oo + 3 * BQ + 0 * L);
        a31.intoArray(ot, oo + 3 * BQ + 1 * L);
        a32.intoArray(ot, oo + 3 * BQ + 2 * L);
        a33.intoArray(ot, oo + 3 * BQ + 3 * L);
        a40.intoArray(ot, oo + 4 * BQ + 0 * L);
        a41.intoArray(ot, oo + 4 * BQ + 1 * L);
        a42.intoArray(ot, oo + 4 * BQ + 2 * L);
        a43.intoArray(ot, oo + 4 * BQ + 3 * L);
        a50.intoArray(ot, oo + 5 * BQ + 0 * L);
        a51.intoArray(ot, oo + 5 * BQ + 1 * L);
        a52.intoArray(ot, oo + 5 * BQ + 2 * L);
        a53.intoArray(ot, oo + 5 * BQ + 3 * L);
    }

    /**
     * Output rows c..c+3 × 4·L queries, transposed: {@code ot[(c+r)·BQ + i] = ot[..]·alpha[i]
     * + Σ_(j<w) vp[vo + 4j + r] · p[TILE_OFF + j·BQ + i]} (V packed 4 channels per key).
     */
    private static void pv4x4(float[] vp, int vo, int w, float[] p, float[] ot, int oo, float[] alpha) {
        FloatVector s0 = FloatVector.fromArray(SP, alpha, 0 * L);
        FloatVector s1 = FloatVector.fromArray(SP, alpha, 1 * L);
        FloatVector s2 = FloatVector.fromArray(SP, alpha, 2 * L);
        FloatVector s3 = FloatVector.fromArray(SP, alpha, 3 * L);
        FloatVector a00 = FloatVector.fromArray(SP, ot, oo + 0 * BQ + 0 * L)
                .mul(s0);
        FloatVector a01 = FloatVector.fromArray(SP, ot, oo + 0 * BQ + 1 * L)
                .mul(s1);
        FloatVector a02 = FloatVector.fromArray(SP, ot, oo + 0 * BQ + 2 * L)
                .mul(s2);
        FloatVector a03 = FloatVector.fromArray(SP, ot, oo + 0 * BQ + 3 * L)
                .mul(s3);
        FloatVector a10 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 0 * L)
                .mul(s0);
        FloatVector a11 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 1 * L)
                .mul(s1);
        FloatVector a12 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 2 * L)
                .mul(s2);
        FloatVector a13 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 3 * L)
                .mul(s3);
        FloatVector a20 = FloatVector.fromArray(SP, ot, oo + 2 * BQ + 0 * L)
                .mul(s0);
        FloatVector a21 = FloatVector.fromArray(SP, ot, oo + 2 * BQ + 1 * L)
                .mul(s1);
        FloatVector a22 = FloatVector.fromArray(SP, ot, oo + 2 * BQ + 2 * L)
                .mul(s2);
        FloatVector a23 = FloatVector.fromArray(SP, ot, oo + 2 * BQ + 3 * L)
                .mul(s3);
        FloatVector a30 = FloatVector.fromArray(SP, ot, oo + 3 * BQ + 0 * L)
                .mul(s0);
        FloatVector a31 = FloatVector.fromArray(SP, ot, oo + 3 * BQ + 1 * L)
                .mul(s1);
        FloatVector a32 = FloatVector.fromArray(SP, ot, oo + 3 * BQ + 2 * L)
                .mul(s2);
        FloatVector a33 = FloatVector.fromArray(SP, ot, oo + 3 * BQ + 3 * L)
                .mul(s3);
        for (int j = 0; j < w; j++) {
            int pj = TILE_OFF + j * BQ;
            int vj = vo + 4 * j;
            FloatVector p0 = FloatVector.fromArray(SP, p, pj + 0 * L);
            FloatVector p1 = FloatVector.fromArray(SP, p, pj + 1 * L);
            FloatVector p2 = FloatVector.fromArray(SP, p, pj + 2 * L);
            FloatVector p3 = FloatVector.fromArray(SP, p, pj + 3 * L);
            FloatVector v0 = FloatVector.broadcast(SP, vp[vj + 0]);
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
        a00.intoArray(ot, oo + 0 * BQ + 0 * L);
        a01.intoArray(ot, oo + 0 * BQ + 1 * L);
        a02.intoArray(ot, oo + 0 * BQ + 2 * L);
        a03.intoArray(ot, oo + 0 * BQ + 3 * L);
        a10.intoArray(ot, oo + 1 * BQ + 0 * L);
        a11.intoArray(ot, oo + 1 * BQ + 1 * L);
        a12.intoArray(ot, oo + 1 * BQ + 2 * L);
        a13.intoArray(ot, oo + 1 * BQ + 3 * L);
        a20.intoArray(ot, oo + 2 * BQ + 0 * L);
        a21.intoArray(ot, oo + 2 * BQ + 1 * L);
        a22.intoArray(ot, oo + 2 * BQ + 2 * L);
        a23.intoArray(ot, oo + 2 * BQ + 3 * L);
        a30.intoArray(ot, oo + 3 * BQ + 0 * L);
        a31.intoArray(ot, oo + 3 * BQ + 1 * L);
        a32.intoArray(ot, oo + 3 * BQ + 2 * L);
        a33.intoArray(ot, oo + 3 * BQ + 3 * L);
    }

    /**
     * Output rows c..c+1 × 4·L queries, transposed: {@code ot[(c+r)·BQ + i] = ot[..]·alpha[i]
     * + Σ_(j<w) vp[vo + 2j + r] · p[TILE_OFF + j·BQ + i]} (V packed 2 channels per key).
     */
    private static void pv2x4(float[] vp, int vo, int w, float[] p, float[] ot, int oo, float[] alpha) {
        FloatVector s0 = FloatVector.fromArray(SP, alpha, 0 * L);
        FloatVector s1 = FloatVector.fromArray(SP, alpha, 1 * L);
        FloatVector s2 = FloatVector.fromArray(SP, alpha, 2 * L);
        FloatVector s3 = FloatVector.fromArray(SP, alpha, 3 * L);
        FloatVector a00 = FloatVector.fromArray(SP, ot, oo + 0 * BQ + 0 * L)
                .mul(s0);
        FloatVector a01 = FloatVector.fromArray(SP, ot, oo + 0 * BQ + 1 * L)
                .mul(s1);
        FloatVector a02 = FloatVector.fromArray(SP, ot, oo + 0 * BQ + 2 * L)
                .mul(s2);
        FloatVector a03 = FloatVector.fromArray(SP, ot, oo + 0 * BQ + 3 * L)
                .mul(s3);
        FloatVector a10 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 0 * L)
                .mul(s0);
        FloatVector a11 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 1 * L)
                .mul(s1);
        FloatVector a12 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 2 * L)
                .mul(s2);
        FloatVector a13 = FloatVector.fromArray(SP, ot, oo + 1 * BQ + 3 * L)
                .mul(s3);
        for (int j = 0; j < w; j++) {
            int pj = TILE_OFF + j * BQ;
            int vj = vo + 2 * j;
            FloatVector p0 = FloatVector.fromArray(SP, p, pj + 0 * L);
            FloatVector p1 = FloatVector.fromArray(SP, p, pj + 1 * L);
            FloatVector p2 = FloatVector.fromArray(SP, p, pj + 2 * L);
            FloatVector p3 = FloatVector.fromArray(SP, p, pj + 3 * L);
            FloatVector v0 = FloatVector.broadcast(SP, vp[vj + 0]);
            a00 = p0.fma(v0, a00);
            a01 = p1.fma(v0, a01);
            a02 = p2.fma(v0, a02);
            a03 = p3.fma(v0, a03);
            FloatVector v1 = FloatVector.broadcast(SP, vp[vj + 1]);
            a10 = p0.fma(v1, a10);
            a11 = p1.fma(v1, a11);
            a12 = p2.fma(v1, a12);
            a13 = p3.fma(v1, a13);
        }
        a00.intoArray(ot, oo + 0 * BQ + 0 * L);
        a01.intoArray(ot, oo + 0 * BQ + 1 * L);
        a02.intoArray(ot, oo + 0 * BQ + 2 * L);
        a03.intoArray(ot, oo + 0 * BQ + 3 * L);
        a10.intoArray(ot, oo + 1 * BQ + 0 * L);
        a11.intoArray(ot, oo + 1 * BQ + 1 * L);
        a12.intoArray(ot, oo + 1 * BQ + 2 * L);
        a13.intoArray(ot, oo + 1 * BQ + 3 * L);
    }

}
