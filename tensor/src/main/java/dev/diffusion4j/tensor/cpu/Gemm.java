package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ArrayAlignment;
import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.HalfFloats;
import dev.diffusion4j.tensor.Quantized;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Matrix multiplication: packed, cache-blocked, register-tiled (Vector API), in the GotoBLAS/BLIS scheme.
 *
 * <p>{@code C[M×N] = A[M×K] · B[K×N]} is computed in blocks of {@link #KC} along K. Each block of B
 * ({@code KC × NC}) is packed into panels of {@link #NR} columns, each block of A ({@code MC × KC}) into
 * panels of {@link #MR} rows; a micro-kernel keeps an {@code MR × NR} tile of C in vector registers,
 * broadcasting one element of A against {@code NR / lanes} vectors of B per step of K.
 *
 * <p>Packing is pluggable ({@link PackA}, {@link PackB}): the operands of {@link #gemm} need not exist
 * as matrices. {@link Conv2d} packs the im2col matrix straight from the NCHW input (implicit GEMM), or
 * lets the kernel read it in place ({@link DirectB}); operands held in F16/BF16 memory segments are
 * converted to float32 while they are packed (vectorised, bit-exact), never copied whole.
 *
 * <p>Threads: C is cut into a grid of tasks (whole panels), at least two per thread and a multiple of
 * the thread count, split along N while its tiles stay wide, else along M, so skinny shapes (M = 77,
 * N = 64) keep every thread busy; each task packs its own blocks into thread-local buffers.
 *
 * <p>Loop order of a task: when B is a strided view (packed for all of K at once, up to {@link #TASK_B}) or is
 * read in place, every K block of one block of rows runs before the next block of rows, so that block's strip
 * of C stays in L2 while it accumulates instead of going to memory once per K block; other packers (im2col)
 * keep the order K block, then blocks of rows, each K block of B packed once.
 *
 * <p>Tuning notes (Xeon with AVX-512, 16 lanes): register tiles 12×2, 14×2, 8×3, 9×3 and 6×4 vectors
 * were measured; 12×2 was fastest (about 95 % of the FMA peak with its panels in L1; C2 keeps its 24
 * accumulators in registers; unrolling its K loop by 2 gained nothing, by 4 lost 40 % to spills). Blocks of
 * {@link #KB} = 256 let the B panel and the A panel streamed past it share L1 (deep K a few % faster than 320);
 * K up to {@link #KC} = 320 stays one block (Winograd's 320-channel products: 2 × 160 lost up to 10 %).
 */
public final class Gemm {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int V = S.length();
    private static final VectorSpecies<Float> S8 = FloatVector.SPECIES_256;
    private static final VectorSpecies<Float> S4 = FloatVector.SPECIES_128;

    /** Rows of the register tile (rows of one packed panel of A). */
    public static final int MR = 12;
    private static final int NV = 2;
    /** Float lanes of one vector of the preferred species (16 with AVX-512). */
    public static final int VECTOR_COLUMNS = V;
    /** Columns of the register tile (columns of one packed panel of B): a few vectors of the preferred species. */
    public static final int NR = NV * V;
    /**
     * Largest depth of a K block. A product with K at most this runs as one block (no second pass over C);
     * deeper ones in blocks of at most {@link #KB}.
     */
    public static final int KC = 320;
    /**
     * Depth of the K blocks of a deeper product: one {@code KB × NR} panel of B (32 KiB) and the {@code MR × KB}
     * panel of A streamed past it (12 KiB) fit in L1 (48 KiB) together; at 320 (40 + 15 KiB) they do not.
     */
    static final int KB = 256;
    /** Most K blocks packed together (see {@link #tile}): 8x8 convolutions with F16 weights 5-10 % faster than 1. */
    private static final int SUPER_BLOCKS = 4;
    /** Most floats of the B blocks of a super-block (512 KiB: they stay in L2 beside A's). */
    private static final long SUPER_B_FLOATS = 1 << 17;
    /**
     * Most floats of a block of rows of A packed over all of K at once (1 MiB: K up to 1365 at {@link #MC} rows) when
     * B is packed for all of K: each row is then read in one run instead of one short run per K block, which the
     * prefetchers follow; JMH, alternating builds, the deep products (K of 640 to 1280) 3-6 points of peak faster.
     */
    private static final long WHOLE_A_FLOATS = 1 << 18;
    /** Rows of a strided B copied together across its panels (see {@link Strided#packB}). */
    private static final int PACK_ROWS = 8;
    /** Rows of an A block ({@code MC × KC} floats stay in L2, 2 MiB). */
    public static final int MC = 16 * MR;
    /** Upper bound of the columns of a B block handled by one task ({@code KC × NC} floats in L2). */
    public static final int NC = 1024;


    /** Floats of B one task packs for all of K (8 MiB) to run a block of rows over all K blocks at once. */
    static final long TASK_B = 2 << 20;

    /** Products (m·n·k) below which a GEMM runs on the calling thread alone. */
    static final double SERIAL_BELOW = 1 << 18;

    /** Steps of K after which a panel of MR rows ends on a vector boundary (lcm(MR, V) / MR). */
    static final int GATHER_K = lcm(MR, V) / MR;
    static final int GATHER_VECTORS = lcm(MR, V) / V;

    /** Floats in one 64-byte cache line. */
    private static final int CACHE_LINE_FLOATS = 16;

    /**
     * The distance between rows or planes of {@code floats} floats that are read or written together (the rows of a
     * register tile in a strip of C, Winograd's transformed weight planes): whole cache lines, an odd number of them.
     * Rows or planes a multiple of 4 KiB apart (a strip 1024 columns wide; 48 rows × 320 channels is 15 × 4 KiB) all fall
     * on the same L1 set, which holds 12 lines, and every load of one looks as if it might depend on a store to another
     * (4K aliasing); an odd number of lines puts up to 64 of them on different sets.
     */
    static int spread(int floats) {
        int lines = (floats + CACHE_LINE_FLOATS - 1) / CACHE_LINE_FLOATS;
        return (lines | 1) * CACHE_LINE_FLOATS;
    }

    private static int lcm(int a, int b) {
        int x = a;
        int y = b;
        while (y != 0) {
            int t = x % y;
            x = y;
            y = t;
        }
        return a / x * b;
    }

    private static final ValueLayout.OfFloat F32_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Per-thread packing buffers, grown on demand (kernels run nested on pool threads, never re-entrantly). */
    private static final ThreadBuffers BUFFERS = new ThreadBuffers(3);

    /** Runs everything on the calling thread (for operands that other threads may not read). */
    private static final ComputePool SERIAL = new ComputePool(1);
    /** Never started: only asked whether a segment may be read by a thread other than its owner. */
    private static final Thread OTHER_THREAD = new Thread(() -> { });

    private Gemm() {
    }

    /**
     * {@code pool}, or a one-thread pool when one of the tensors is a segment confined to the calling
     * thread (e.g. from {@code Arena.ofConfined()}), which the pool's workers could not read.
     */
    static ComputePool poolFor(ComputePool pool, Tensor... tensors) {
        for (Tensor t : tensors) {
            if (t != null && !t.isHeap() && !t.segment().isAccessibleBy(OTHER_THREAD)) {
                return SERIAL;
            }
        }
        return pool;
    }

    /**
     * Packs a block of the left operand A ({@code M × K}).
     *
     * <p>{@code pack(i0, mc, k0, kc, dst)} writes rows {@code [i0, i0+mc)} and columns {@code [k0, k0+kc)}
     * as consecutive panels of {@link #MR} rows: element {@code (i0 + p·MR + r, k0 + k)} goes to
     * {@code dst[p·MR·kc + k·MR + r]}; rows of the last panel beyond {@code mc} must be written as zero.
     */
    @FunctionalInterface
    public interface PackA {
        void pack(int i0, int mc, int k0, int kc, float[] dst);
    }

    /**
     * Packs a block of the right operand B ({@code K × N}).
     *
     * <p>{@code pack(k0, kc, j0, nc, dst, dOff)} writes rows {@code [k0, k0+kc)} and columns {@code [j0, j0+nc)}
     * as consecutive panels of {@link #NR} columns: element {@code (k0 + k, j0 + p·NR + j)} goes to
     * {@code dst[dOff + p·NR·kc + k·NR + j]}; columns of the last panel beyond {@code nc} must be written as zero.
     * The offset lets {@link #gemm} pack several K blocks side by side.
     */
    @FunctionalInterface
    public interface PackB {
        /** {@link #pack(int, int, int, int, float[], int)} from {@code dst[0]} on. */
        default void pack(int k0, int kc, int j0, int nc, float[] dst) {
            pack(k0, kc, j0, nc, dst, 0);
        }

        void pack(int k0, int kc, int j0, int nc, float[] dst, int dOff);
    }

    /**
     * A right operand read in place, without packing: {@code B(k, j + t) = data()[rowOffsets()[k] + colOffset(j) + t]}
     * for {@code j} a multiple of {@link #VECTOR_COLUMNS} and {@code 0 <= t < VECTOR_COLUMNS} (each vector's
     * columns are contiguous). {@link #gemm} reads it so when the columns of every task are whole panels of
     * {@link #NR} ({@code n} a multiple of {@code NR}), else it packs through {@link #pack}.
     */
    public interface DirectB extends PackB {
        /** The array B is read from. */
        float[] data();

        /** Offset of each row k of B in {@link #data()} (length at least K). */
        int[] rowOffsets();

        /** Offset of column {@code j} (a multiple of {@link #VECTOR_COLUMNS}) in every row; the vector's columns follow it. */
        int colOffset(int j);

        /**
         * Whether B is laid out as packed panels already: {@code rowOffsets()[k] == k·NR} and the {@link #NR} columns of
         * each panel contiguous from {@code colOffset} of its first. The kernel then reads it as a packed panel, with
         * indices affine in k (the JIT hoists their bounds checks) instead of through the row offsets.
         */
        default boolean packedPanels() {
            return false;
        }

        @Override
        default void pack(int k0, int kc, int j0, int nc, float[] dst, int dOff) {
            float[] data = data();
            int[] ko = rowOffsets();
            for (int p = 0; p * NR < nc; p++) {
                int cols = Math.min(NR, nc - p * NR);
                int d = dOff + p * NR * kc;
                for (int k = 0; k < kc; k++) {
                    for (int t = 0; t < cols; t += V) {
                        int len = Math.min(V, cols - t);
                        System.arraycopy(data, ko[k0 + k] + colOffset(j0 + p * NR + t), dst, d + k * NR + t, len);
                    }
                    Arrays.fill(dst, d + k * NR + cols, d + (k + 1) * NR, 0f);
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Tensor-level entries

    /** See {@link dev.diffusion4j.tensor.Backend#matmul}. */
    public static Tensor matmul(ComputePool pool, Tensor a, boolean transposeA, Tensor b, boolean transposeB) {
        int ra = a.rank();
        int rb = b.rank();
        if ((ra != 2 && ra != 3) || (rb != 2 && rb != 3) || (ra == 2 && rb == 3)
                || (ra == 3 && rb == 3 && a.dim(0) != b.dim(0))) {
            throw new IllegalArgumentException("matmul: unsupported ranks/batch for shapes " + a.shape()
                    + " and " + b.shape() + " (rank 2 x rank 2, rank 3 x rank 3 with equal batch, or rank 3 x rank 2)");
        }
        pool = poolFor(pool, a, b);
        int batch = ra == 3 ? a.dim(0) : 1;
        int m = transposeA ? a.dim(-1) : a.dim(-2);
        int ka = transposeA ? a.dim(-2) : a.dim(-1);
        int kb = transposeB ? b.dim(-1) : b.dim(-2);
        int n = transposeB ? b.dim(-2) : b.dim(-1);
        if (ka != kb) {
            throw new IllegalArgumentException("matmul: inner dimensions differ (" + ka + " vs " + kb
                    + ") for shapes " + a.shape() + (transposeA ? "ᵀ" : "") + " and " + b.shape()
                    + (transposeB ? "ᵀ" : ""));
        }
        int k = ka;
        Tensor out = ra == 3 ? Tensor.empty(batch, m, n) : Tensor.empty(m, n);
        float[] c = out.array();
        int co = out.offset();
        int lda = a.dim(-1);
        int ldb = b.dim(-1);
        long aStride = (long) a.dim(-2) * a.dim(-1);
        long bStride = rb == 3 ? (long) b.dim(-2) * b.dim(-1) : 0;
        if (ra == 3 && rb == 2 && !transposeA) {
            // B is shared and A's batches are contiguous rows: one GEMM with batch·M rows.
            gemm(pool, batch * m, n, k, viewA(a, 0, lda, 1), viewB(b, 0, transposeB ? 1 : ldb, transposeB ? ldb : 1),
                    c, co, n, null, null, false);
            return out;
        }
        for (int bi = 0; bi < batch; bi++) {
            PackA pa = transposeA ? viewA(a, bi * aStride, 1, lda) : viewA(a, bi * aStride, lda, 1);
            PackB pb = transposeB ? viewB(b, bi * bStride, 1, ldb) : viewB(b, bi * bStride, ldb, 1);
            gemm(pool, m, n, k, pa, pb, c, co + (int) ((long) bi * m * n), n, null, null, false);
        }
        return out;
    }

    /** See {@link dev.diffusion4j.tensor.Backend#linear}. */
    public static Tensor linear(ComputePool pool, Tensor x, Tensor weight, Tensor bias) {
        if (x.rank() < 1 || weight.rank() != 2 || x.dim(-1) != weight.dim(1)
                || (bias != null && (bias.rank() != 1 || bias.dim(0) != weight.dim(0)))) {
            throw new IllegalArgumentException("linear: shapes x " + x.shape() + ", weight " + weight.shape()
                    + ", bias " + (bias == null ? "none" : bias.shape())
                    + " (expected x [..., in], weight [out, in], bias [out])");
        }
        pool = poolFor(pool, x, weight);
        int in = weight.dim(1);
        int outF = weight.dim(0);
        long rowsL = x.shape().product(0, x.rank() - 1);
        if (rowsL * Math.max(1, outF) > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("linear: output of x " + x.shape() + " and weight " + weight.shape()
                    + " is too large for a heap tensor");
        }
        int rows = (int) rowsL;
        int[] dims = x.shape().dims();
        dims[dims.length - 1] = outF;
        Tensor out = Tensor.empty(Shape.of(dims));
        float[] colBias = bias == null ? null : toFloats(bias);
        // y = x · Wᵀ: B(k, j) = W[j, k], i.e. row stride 1, column stride in.
        gemm(pool, rows, outF, in, viewA(x, 0, in, 1), viewB(weight, 0, 1, in),
                out.array(), out.offset(), outF, null, colBias, false);
        return out;
    }

    /** The elements of a (small) tensor of any dtype as a float array. */
    static float[] toFloats(Tensor t) {
        if (t.isHeap()) {
            return Arrays.copyOfRange(t.array(), t.offset(), t.offset() + (int) t.numel());
        }
        return t.toFloatArray();
    }

    /**
     * A as a strided view of a tensor's elements: {@code A(i, k) = t[offset + i·rowStride + k·colStride]}
     * (element indices; any dtype and storage). No bounds are checked here beyond those of the storage.
     */
    public static PackA viewA(Tensor t, long offset, long rowStride, long colStride) {
        return new StridedA(new Strided(t, offset, rowStride, colStride));
    }

    /** A strided view as A; {@link FusedLinear} packs it from an offset (all of A once, into a shared buffer). */
    record StridedA(Strided view) implements PackAAt {
        @Override
        public void pack(int i0, int mc, int k0, int kc, float[] dst, int dOff) {
            view.packA(i0, mc, k0, kc, dst, dOff);
        }
    }

    /** A {@link PackA} that can write its panels from an offset of {@code dst} on ({@link FusedLinear} packs all of a small A once into a shared buffer). */
    interface PackAAt extends PackA {
        /** {@link PackA#pack} writing the panels from {@code dst[dOff]} on. */
        void pack(int i0, int mc, int k0, int kc, float[] dst, int dOff);

        @Override
        default void pack(int i0, int mc, int k0, int kc, float[] dst) {
            pack(i0, mc, k0, kc, dst, 0);
        }
    }

    /** B as a strided view of a tensor's elements: {@code B(k, j) = t[offset + k·rowStride + j·colStride]}. */
    public static PackB viewB(Tensor t, long offset, long rowStride, long colStride) {
        return new StridedB(new Strided(t, offset, rowStride, colStride));
    }

    /** A strided view as B; {@link #gemm} packs all of K of a task's columns at once from it. */
    record StridedB(Strided view) implements PackB {
        @Override
        public void pack(int k0, int kc, int j0, int nc, float[] dst, int dOff) {
            view.packB(k0, kc, j0, nc, dst, dOff);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // The driver

    /**
     * {@code C = A·B (+ rowBias[i]) (+ colBias[j]) (+ C if accumulate)} for an {@code m × n} block of
     * {@code c} starting at {@code cOff} with row stride {@code ldc}; A and B are supplied by their packers.
     * Runs on {@code pool}, splitting rows and columns of C into independent tasks.
     *
     * @param rowBias null or at least {@code m} values added to the rows of C
     * @param colBias null or at least {@code n} values added to the columns of C
     */
    public static void gemm(ComputePool pool, int m, int n, int k, PackA a, PackB b,
                            float[] c, int cOff, int ldc, float[] rowBias, float[] colBias, boolean accumulate) {
        if (m < 0 || n < 0 || k < 0 || ldc < n) {
            throw new IllegalArgumentException("gemm: bad sizes m=" + m + " n=" + n + " k=" + k + " ldc=" + ldc);
        }
        if (m == 0 || n == 0) {
            return;
        }
        if (cOff < 0 || (long) cOff + (long) (m - 1) * ldc + n > c.length) {
            throw new IllegalArgumentException("gemm: C of length " + c.length + " does not hold " + m + "x" + n
                    + " at offset " + cOff + " with ldc " + ldc);
        }
        if ((rowBias != null && rowBias.length < m) || (colBias != null && colBias.length < n)) {
            throw new IllegalArgumentException("gemm: bias shorter than m=" + m + " / n=" + n);
        }
        if (k == 0) {
            for (int i = 0; i < m; i++) {
                int row = cOff + i * ldc;
                for (int j = 0; j < n; j++) {
                    float v = (accumulate ? c[row + j] : 0f) + (rowBias != null ? rowBias[i] : 0f)
                            + (colBias != null ? colBias[j] : 0f);
                    c[row + j] = v;
                }
            }
            return;
        }
        int mPanels = (m + MR - 1) / MR;
        int nPanels = (n + NR - 1) / NR;
        if ((double) m * n * k < SERIAL_BELOW && n <= NC) {
            // A few microseconds of work: handing it to other threads would cost more than it saves.
            tile(0, m, 0, n, k, a, b, c, cOff, ldc, rowBias, colBias, accumulate);
            return;
        }
        int threads = pool.threads();
        int mTiles = 1;
        int nTiles = (n + NC - 1) / NC;
        if (threads > 1) {
            // Enough independent tiles to keep every thread busy, and a multiple of the thread count so
            // they end together. Split N while its tiles stay wide (B packing is amortised over the rows
            // of a tile, A packing over its columns), else split M. With a few columns packed per task (an
            // 8x8 convolution's im2col: all of B, 11520 x 128, for each task) one task per thread: B is
            // packed half as often (conv16:1280x1280x8 and 2560x1280x8 on 2 threads, GemmTiming --ab both
            // orders: 3-8 % faster in 8 of 8 pairs).
            int want = nPanels <= 4 && !(b instanceof DirectB) ? threads : 2 * threads;
            for (int guard = 0; guard < 64 && (mTiles * nTiles < want || (mTiles * nTiles) % threads != 0); guard++) {
                boolean canN = nPanels / (nTiles + 1) >= 4;
                boolean canM = mPanels / (mTiles + 1) >= 2;
                double rowsPerTile = (double) m / mTiles;
                double colsPerTile = (double) n / nTiles;
                if (canN && (colsPerTile >= rowsPerTile || !canM)) {
                    nTiles++;
                } else if (canM) {
                    mTiles++;
                } else if (nPanels / (nTiles + 1) >= 1) {
                    nTiles++;
                } else {
                    break;
                }
            }
        }
        final int mt = mTiles;
        final int nt = nTiles;
        pool.parallelFor(mt * nt, 1, (from, to) -> {
            for (int t = from; t < to; t++) {
                int ti = t / nt;
                int tj = t % nt;
                int i0 = (int) ((long) mPanels * ti / mt) * MR;
                int i1 = Math.min(m, (int) ((long) mPanels * (ti + 1) / mt) * MR);
                int j0 = (int) ((long) nPanels * tj / nt) * NR;
                int j1 = Math.min(n, (int) ((long) nPanels * (tj + 1) / nt) * NR);
                if (i0 < i1 && j0 < j1) {
                    tile(i0, i1, j0, j1, k, a, b, c, cOff, ldc, rowBias, colBias, accumulate);
                }
            }
        });
    }

    private static float[] buffer(int which, int size) {
        return BUFFERS.get(which, size);
    }

    /**
     * Number of K blocks of a product of depth k, all of equal depth (no thin last block that would pay the C
     * traffic for little work): one up to {@link #KC}, else blocks of at most {@link #KB}.
     */
    static int kBlocks(int k) {
        return k <= KC ? 1 : (k + KB - 1) / KB;
    }

    /**
     * Start of K block {@code kb} of {@code kBlocks} equal-depth blocks of a product of depth k, on an even step of K
     * inside the product: the micro-kernels take K two steps at a time, and a block of odd depth (640 in three: 213,
     * 213, 214) runs their one-step remainder, which C2 leaves out of code compiled before it was ever taken (the
     * text encoder's depths are all even) and then throws away that code, the hottest loop of the U-Net's first step,
     * when the first such block comes (see the README on the first step).
     */
    static int kStart(int k, int kBlocks, int kb) {
        return kb >= kBlocks ? k : (int) ((long) k * kb / kBlocks) & ~1;
    }

    /** Depth of the deepest of {@link #kStart}'s blocks (with its even boundaries, up to one step past k / kBlocks). */
    static int maxBlockDepth(int k, int kBlocks) {
        int depth = 0;
        for (int b = 0; b < kBlocks; b++) {
            depth = Math.max(depth, kStart(k, kBlocks, b + 1) - kStart(k, kBlocks, b));
        }
        return depth;
    }

    /**
     * One task: rows [i0, i1) and columns [j0, j1) of C over all of K. When B is read in place or is a strided view
     * whose columns of the task fit {@link #TASK_B} packed for all of K, all K blocks of a block of rows run before
     * the next block (its strip of C, {@code MC × ncols}, stays in L2 while it accumulates; the block of A is packed
     * for all of K at once up to {@link #WHOLE_A_FLOATS}); else (e.g. an im2col B of a deep convolution) K block by
     * K block, each packed once for all the blocks of rows.
     */
    private static void tile(int i0, int i1, int j0, int j1, int k, PackA a, PackB b, float[] c, int cOff, int ldc,
                             float[] rowBias, float[] colBias, boolean accumulate) {
        int ncols = j1 - j0;
        // B in place when it allows it: every panel then is whole (n, and so each tile, a multiple of NR).
        DirectB direct = b instanceof DirectB d && ncols % NR == 0 ? d : null;
        int nPad = (ncols + NR - 1) / NR * NR;
        float[] bufA = buffer(1, KC * MC);
        float[] scratch = buffer(2, MR * NR);
        int kBlocks = kBlocks(k);
        StridedB strided = direct == null && b instanceof StridedB sb && (long) k * nPad <= TASK_B ? sb : null;
        if (direct != null || strided != null) {
            float[] bufB = null;
            if (strided != null) {
                // All of K at once: K block kb at pc·nPad.
                // From a cache line on (see ArrayAlignment): every panel is a whole number of lines.
                bufB = buffer(0, k * nPad + ArrayAlignment.FLOAT_OFFSET);
                for (int kb = 0; kb < kBlocks; kb++) {
                    int pc = kStart(k, kBlocks, kb);
                    int kc = kStart(k, kBlocks, kb + 1) - pc;
                    strided.view().packB(pc, kc, j0, ncols, bufB, ArrayAlignment.FLOAT_OFFSET + pc * nPad);
                }
            }
            boolean wholeA = kBlocks > 1 && (long) MC * k <= WHOLE_A_FLOATS;
            float[] bufAk = wholeA ? buffer(1, MC * k) : bufA;
            for (int ic = i0; ic < i1; ic += MC) {
                int mc = Math.min(MC, i1 - ic);
                if (wholeA) {
                    a.pack(ic, mc, 0, k, bufAk);
                }
                for (int kb = 0; kb < kBlocks; kb++) {
                    int pc = kStart(k, kBlocks, kb);
                    int kc = kStart(k, kBlocks, kb + 1) - pc;
                    boolean first = pc == 0;
                    if (!wholeA) {
                        a.pack(ic, mc, pc, kc, bufA);
                    }
                    macro(mc, ncols, kc, bufAk, wholeA ? pc * MR : 0, wholeA ? k : kc, bufB,
                            ArrayAlignment.FLOAT_OFFSET + pc * nPad, direct, pc, j0, c,
                            cOff + ic * ldc + j0, ldc,
                            !first || accumulate, first ? rowBias : null, ic, first ? colBias : null, j0, scratch);
                }
            }
            return;
        }
        // K blocks in groups (a super-block): A is packed for the whole group at once, so each of its rows is read in
        // one run of up to SUPER_BLOCKS·KB values instead of a short run per K block (F16 weights of an 8x8
        // convolution: 12 rows 23 KB apart, 512 bytes each); the group's B blocks stay in L2 over the rows.
        int blockDepth = maxBlockDepth(k, kBlocks);
        long fitB = SUPER_B_FLOATS / ((long) blockDepth * nPad);
        int group = (int) Math.max(1, Math.min(Math.min(SUPER_BLOCKS, kBlocks), fitB));
        // From a cache line on, as above.
        float[] bufB = buffer(0, group * blockDepth * nPad + ArrayAlignment.FLOAT_OFFSET);
        float[] bufAs = group == 1 ? bufA : buffer(1, group * blockDepth * MC);
        for (int kb0 = 0; kb0 < kBlocks; kb0 += group) {
            int kb1 = Math.min(kBlocks, kb0 + group);
            int ps = kStart(k, kBlocks, kb0);
            int ks = kStart(k, kBlocks, kb1) - ps;
            for (int kb = kb0; kb < kb1; kb++) {
                int pc = kStart(k, kBlocks, kb);
                b.pack(pc, kStart(k, kBlocks, kb + 1) - pc, j0, ncols, bufB,
                        ArrayAlignment.FLOAT_OFFSET + (pc - ps) * nPad);
            }
            for (int ic = i0; ic < i1; ic += MC) {
                int mc = Math.min(MC, i1 - ic);
                a.pack(ic, mc, ps, ks, bufAs);
                for (int kb = kb0; kb < kb1; kb++) {
                    int pc = kStart(k, kBlocks, kb);
                    int kc = kStart(k, kBlocks, kb + 1) - pc;
                    boolean first = pc == 0;
                    // Panels of the group's A are ks deep; this block starts (pc - ps) steps into each.
                    macro(mc, ncols, kc, bufAs, (pc - ps) * MR, ks, bufB,
                            ArrayAlignment.FLOAT_OFFSET + (pc - ps) * nPad, direct, pc, j0, c,
                            cOff + ic * ldc + j0, ldc, !first || accumulate, first ? rowBias : null, ic,
                            first ? colBias : null, j0, scratch);
                }
            }
        }
    }

    /** One micro-tile into {@code dst}: from the packed B panel at {@code bi}, or in place from {@code direct}. */
    private static void microTile(int kc, float[] ap, int ai, float[] bp, int bi, DirectB direct, int pc, int jb0,
                                  int jb1, float[] dst, int di, int ldd, boolean add) {
        if (direct == null) {
            kernel(kc, ap, ai, bp, bi, dst, di, ldd, add);
        } else if (direct.packedPanels()) {
            kernel(kc, ap, ai, direct.data(), jb0 + pc * NR, dst, di, ldd, add);
        } else {
            kernelDirectB(kc, ap, ai, direct.data(), direct.rowOffsets(), pc, jb0, jb1, dst, di, ldd, add);
        }
    }

    /**
     * One block of rows × one K block. Writing C (no accumulate) it goes row panel by row panel, each across all
     * column panels: C is then written as MR rows streaming left to right, which the prefetchers follow (column panel
     * by column panel, each tile's MR rows lay far apart and C's first write cost 10 % more at K = 320). Accumulating,
     * column panel by column panel: the B panel stays in L1 over the rows. The block's A panels are {@code akc} deep
     * (a super-block's, or kc) and its K block starts at {@code ao} in the first.
     */
    private static void macro(int mc, int nc, int kc, float[] ap, int ao, int akc, float[] bp, int bo, DirectB direct,
                              int pc, int j0, float[] c, int cOff, int ldc, boolean add, float[] rowBias, int rowBase,
                              float[] colBias, int colBase, float[] scratch) {
        if (add) {
            for (int jr = 0; jr < nc; jr += NR) {
                for (int ir = 0; ir < mc; ir += MR) {
                    macroTile(ir, jr, mc, nc, kc, ap, ao, akc, bp, bo, direct, pc, j0, c, cOff, ldc, true, rowBias,
                            rowBase, colBias, colBase, scratch);
                }
            }
        } else {
            for (int ir = 0; ir < mc; ir += MR) {
                for (int jr = 0; jr < nc; jr += NR) {
                    macroTile(ir, jr, mc, nc, kc, ap, ao, akc, bp, bo, direct, pc, j0, c, cOff, ldc, false, rowBias,
                            rowBase, colBias, colBase, scratch);
                }
            }
        }
    }

    /** Register tile (ir, jr) of a block: whole tiles without bias straight into C, the others through a scratch. */
    private static void macroTile(int ir, int jr, int mc, int nc, int kc, float[] ap, int ao, int akc, float[] bp,
                                  int bo,
                                  DirectB direct, int pc, int j0, float[] c, int cOff, int ldc, boolean add,
                                  float[] rowBias, int rowBase, float[] colBias, int colBase, float[] scratch) {
        int nr = Math.min(NR, nc - jr);
        int bi = bo + jr * kc;
        // Register tile of NV = 2 vectors (as generated): the column offset of each.
        int jb0 = direct == null ? 0 : direct.colOffset(j0 + jr);
        int jb1 = direct == null ? 0 : direct.colOffset(j0 + jr + V);
        int mr = Math.min(MR, mc - ir);
        int ai = ao + ir * akc;
        int ci = cOff + ir * ldc + jr;
        boolean bias = rowBias != null || colBias != null;
        if (mr == MR && nr == NR && !bias) {
            microTile(kc, ap, ai, bp, bi, direct, pc, jb0, jb1, c, ci, ldc, add);
        } else if (mr == MR && nr == NR) {
            microTile(kc, ap, ai, bp, bi, direct, pc, jb0, jb1, scratch, 0, NR, false);
            for (int r = 0; r < MR; r++) {
                int row = ci + r * ldc;
                FloatVector rb = FloatVector.broadcast(S, rowBias != null ? rowBias[rowBase + ir + r] : 0f);
                for (int v = 0; v < NR; v += V) {
                    FloatVector x = FloatVector.fromArray(S, scratch, r * NR + v).add(rb);
                    if (colBias != null) {
                        x = x.add(FloatVector.fromArray(S, colBias, colBase + jr + v));
                    }
                    if (add) {
                        x = x.add(FloatVector.fromArray(S, c, row + v));
                    }
                    x.intoArray(c, row + v);
                }
            }
        } else {
            microTile(kc, ap, ai, bp, bi, direct, pc, jb0, jb1, scratch, 0, NR, false);
            for (int r = 0; r < mr; r++) {
                int row = ci + r * ldc;
                int s = r * NR;
                float rbv = rowBias != null ? rowBias[rowBase + ir + r] : 0f;
                for (int j = 0; j < nr; j++) {
                    float v = scratch[s + j] + rbv;
                    if (colBias != null) {
                        v += colBias[colBase + jr + j];
                    }
                    c[row + j] = add ? c[row + j] + v : v;
                }
            }
        }
    }

    /**
     * The first {@code rows × cols} of a register tile computed into {@code tile} (rows {@link #NR} apart) written to
     * C at {@code c[off + r·ldc + t]}, or added to it: how a partial tile reaches C.
     */
    static void storeTile(float[] tile, int rows, int cols, float[] c, int off, int ldc, boolean add) {
        for (int r = 0; r < rows; r++) {
            for (int t = 0; t < cols; t++) {
                int o = off + r * ldc + t;
                c[o] = add ? c[o] + tile[r * NR + t] : tile[r * NR + t];
            }
        }
    }

    // BEGIN GENERATED KERNEL (MR=12, 2 vectors, K two steps per iteration; regenerate rather than edit by hand)
    /** Register tile 12 rows x 2 vectors: C[0..12, 0..NR) (+)= Apanel . Bpanel over kc. */
    static void kernel(int kc, float[] ap, int ai, float[] bp, int bi, float[] c, int ci, int ldc, boolean add) {
        FloatVector c0_0 = FloatVector.zero(S); FloatVector c0_1 = FloatVector.zero(S);
        FloatVector c1_0 = FloatVector.zero(S); FloatVector c1_1 = FloatVector.zero(S);
        FloatVector c2_0 = FloatVector.zero(S); FloatVector c2_1 = FloatVector.zero(S);
        FloatVector c3_0 = FloatVector.zero(S); FloatVector c3_1 = FloatVector.zero(S);
        FloatVector c4_0 = FloatVector.zero(S); FloatVector c4_1 = FloatVector.zero(S);
        FloatVector c5_0 = FloatVector.zero(S); FloatVector c5_1 = FloatVector.zero(S);
        FloatVector c6_0 = FloatVector.zero(S); FloatVector c6_1 = FloatVector.zero(S);
        FloatVector c7_0 = FloatVector.zero(S); FloatVector c7_1 = FloatVector.zero(S);
        FloatVector c8_0 = FloatVector.zero(S); FloatVector c8_1 = FloatVector.zero(S);
        FloatVector c9_0 = FloatVector.zero(S); FloatVector c9_1 = FloatVector.zero(S);
        FloatVector c10_0 = FloatVector.zero(S); FloatVector c10_1 = FloatVector.zero(S);
        FloatVector c11_0 = FloatVector.zero(S); FloatVector c11_1 = FloatVector.zero(S);
        // K two steps at a time: half the loop's index arithmetic and branch per step (2-3 % in L1). The exit test is
        // on k itself: tested as k + 1 < kc, C2 did not take the loop as counted and kept four range checks and a
        // safepoint poll in every iteration (in L1 162-172 -> 175-178 GFLOP/s on a busy host, three alternating runs).
        int k = 0;
        for (int kPairs = kc - 1; k < kPairs; k += 2) {
            FloatVector b0;
            FloatVector b1;
            FloatVector a;
            b0 = FloatVector.fromArray(S, bp, bi + (k) * (2 * V) + 0 * V);
            b1 = FloatVector.fromArray(S, bp, bi + (k) * (2 * V) + 1 * V);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 0]);
            c0_0 = a.fma(b0, c0_0);
            c0_1 = a.fma(b1, c0_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 1]);
            c1_0 = a.fma(b0, c1_0);
            c1_1 = a.fma(b1, c1_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 2]);
            c2_0 = a.fma(b0, c2_0);
            c2_1 = a.fma(b1, c2_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 3]);
            c3_0 = a.fma(b0, c3_0);
            c3_1 = a.fma(b1, c3_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 4]);
            c4_0 = a.fma(b0, c4_0);
            c4_1 = a.fma(b1, c4_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 5]);
            c5_0 = a.fma(b0, c5_0);
            c5_1 = a.fma(b1, c5_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 6]);
            c6_0 = a.fma(b0, c6_0);
            c6_1 = a.fma(b1, c6_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 7]);
            c7_0 = a.fma(b0, c7_0);
            c7_1 = a.fma(b1, c7_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 8]);
            c8_0 = a.fma(b0, c8_0);
            c8_1 = a.fma(b1, c8_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 9]);
            c9_0 = a.fma(b0, c9_0);
            c9_1 = a.fma(b1, c9_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 10]);
            c10_0 = a.fma(b0, c10_0);
            c10_1 = a.fma(b1, c10_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 11]);
            c11_0 = a.fma(b0, c11_0);
            c11_1 = a.fma(b1, c11_1);
            b0 = FloatVector.fromArray(S, bp, bi + (k + 1) * (2 * V) + 0 * V);
            b1 = FloatVector.fromArray(S, bp, bi + (k + 1) * (2 * V) + 1 * V);
            a = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 0]);
            c0_0 = a.fma(b0, c0_0);
            c0_1 = a.fma(b1, c0_1);
            a = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 1]);
            c1_0 = a.fma(b0, c1_0);
            c1_1 = a.fma(b1, c1_1);
            a = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 2]);
            c2_0 = a.fma(b0, c2_0);
            c2_1 = a.fma(b1, c2_1);
            a = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 3]);
            c3_0 = a.fma(b0, c3_0);
            c3_1 = a.fma(b1, c3_1);
            a = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 4]);
            c4_0 = a.fma(b0, c4_0);
            c4_1 = a.fma(b1, c4_1);
            a = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 5]);
            c5_0 = a.fma(b0, c5_0);
            c5_1 = a.fma(b1, c5_1);
            a = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 6]);
            c6_0 = a.fma(b0, c6_0);
            c6_1 = a.fma(b1, c6_1);
            a = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 7]);
            c7_0 = a.fma(b0, c7_0);
            c7_1 = a.fma(b1, c7_1);
            a = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 8]);
            c8_0 = a.fma(b0, c8_0);
            c8_1 = a.fma(b1, c8_1);
            a = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 9]);
            c9_0 = a.fma(b0, c9_0);
            c9_1 = a.fma(b1, c9_1);
            a = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 10]);
            c10_0 = a.fma(b0, c10_0);
            c10_1 = a.fma(b1, c10_1);
            a = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 11]);
            c11_0 = a.fma(b0, c11_0);
            c11_1 = a.fma(b1, c11_1);
        }
        if (k < kc) {
            FloatVector b0;
            FloatVector b1;
            FloatVector a;
            b0 = FloatVector.fromArray(S, bp, bi + (k) * (2 * V) + 0 * V);
            b1 = FloatVector.fromArray(S, bp, bi + (k) * (2 * V) + 1 * V);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 0]);
            c0_0 = a.fma(b0, c0_0);
            c0_1 = a.fma(b1, c0_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 1]);
            c1_0 = a.fma(b0, c1_0);
            c1_1 = a.fma(b1, c1_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 2]);
            c2_0 = a.fma(b0, c2_0);
            c2_1 = a.fma(b1, c2_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 3]);
            c3_0 = a.fma(b0, c3_0);
            c3_1 = a.fma(b1, c3_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 4]);
            c4_0 = a.fma(b0, c4_0);
            c4_1 = a.fma(b1, c4_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 5]);
            c5_0 = a.fma(b0, c5_0);
            c5_1 = a.fma(b1, c5_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 6]);
            c6_0 = a.fma(b0, c6_0);
            c6_1 = a.fma(b1, c6_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 7]);
            c7_0 = a.fma(b0, c7_0);
            c7_1 = a.fma(b1, c7_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 8]);
            c8_0 = a.fma(b0, c8_0);
            c8_1 = a.fma(b1, c8_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 9]);
            c9_0 = a.fma(b0, c9_0);
            c9_1 = a.fma(b1, c9_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 10]);
            c10_0 = a.fma(b0, c10_0);
            c10_1 = a.fma(b1, c10_1);
            a = FloatVector.broadcast(S, ap[ai + (k) * 12 + 11]);
            c11_0 = a.fma(b0, c11_0);
            c11_1 = a.fma(b1, c11_1);
        }
        if (add) {
            c0_0 = c0_0.add(FloatVector.fromArray(S, c, ci + 0 * ldc + 0 * V));
            c0_1 = c0_1.add(FloatVector.fromArray(S, c, ci + 0 * ldc + 1 * V));
            c1_0 = c1_0.add(FloatVector.fromArray(S, c, ci + 1 * ldc + 0 * V));
            c1_1 = c1_1.add(FloatVector.fromArray(S, c, ci + 1 * ldc + 1 * V));
            c2_0 = c2_0.add(FloatVector.fromArray(S, c, ci + 2 * ldc + 0 * V));
            c2_1 = c2_1.add(FloatVector.fromArray(S, c, ci + 2 * ldc + 1 * V));
            c3_0 = c3_0.add(FloatVector.fromArray(S, c, ci + 3 * ldc + 0 * V));
            c3_1 = c3_1.add(FloatVector.fromArray(S, c, ci + 3 * ldc + 1 * V));
            c4_0 = c4_0.add(FloatVector.fromArray(S, c, ci + 4 * ldc + 0 * V));
            c4_1 = c4_1.add(FloatVector.fromArray(S, c, ci + 4 * ldc + 1 * V));
            c5_0 = c5_0.add(FloatVector.fromArray(S, c, ci + 5 * ldc + 0 * V));
            c5_1 = c5_1.add(FloatVector.fromArray(S, c, ci + 5 * ldc + 1 * V));
            c6_0 = c6_0.add(FloatVector.fromArray(S, c, ci + 6 * ldc + 0 * V));
            c6_1 = c6_1.add(FloatVector.fromArray(S, c, ci + 6 * ldc + 1 * V));
            c7_0 = c7_0.add(FloatVector.fromArray(S, c, ci + 7 * ldc + 0 * V));
            c7_1 = c7_1.add(FloatVector.fromArray(S, c, ci + 7 * ldc + 1 * V));
            c8_0 = c8_0.add(FloatVector.fromArray(S, c, ci + 8 * ldc + 0 * V));
            c8_1 = c8_1.add(FloatVector.fromArray(S, c, ci + 8 * ldc + 1 * V));
            c9_0 = c9_0.add(FloatVector.fromArray(S, c, ci + 9 * ldc + 0 * V));
            c9_1 = c9_1.add(FloatVector.fromArray(S, c, ci + 9 * ldc + 1 * V));
            c10_0 = c10_0.add(FloatVector.fromArray(S, c, ci + 10 * ldc + 0 * V));
            c10_1 = c10_1.add(FloatVector.fromArray(S, c, ci + 10 * ldc + 1 * V));
            c11_0 = c11_0.add(FloatVector.fromArray(S, c, ci + 11 * ldc + 0 * V));
            c11_1 = c11_1.add(FloatVector.fromArray(S, c, ci + 11 * ldc + 1 * V));
        }
        c0_0.intoArray(c, ci + 0 * ldc + 0 * V);
        c0_1.intoArray(c, ci + 0 * ldc + 1 * V);
        c1_0.intoArray(c, ci + 1 * ldc + 0 * V);
        c1_1.intoArray(c, ci + 1 * ldc + 1 * V);
        c2_0.intoArray(c, ci + 2 * ldc + 0 * V);
        c2_1.intoArray(c, ci + 2 * ldc + 1 * V);
        c3_0.intoArray(c, ci + 3 * ldc + 0 * V);
        c3_1.intoArray(c, ci + 3 * ldc + 1 * V);
        c4_0.intoArray(c, ci + 4 * ldc + 0 * V);
        c4_1.intoArray(c, ci + 4 * ldc + 1 * V);
        c5_0.intoArray(c, ci + 5 * ldc + 0 * V);
        c5_1.intoArray(c, ci + 5 * ldc + 1 * V);
        c6_0.intoArray(c, ci + 6 * ldc + 0 * V);
        c6_1.intoArray(c, ci + 6 * ldc + 1 * V);
        c7_0.intoArray(c, ci + 7 * ldc + 0 * V);
        c7_1.intoArray(c, ci + 7 * ldc + 1 * V);
        c8_0.intoArray(c, ci + 8 * ldc + 0 * V);
        c8_1.intoArray(c, ci + 8 * ldc + 1 * V);
        c9_0.intoArray(c, ci + 9 * ldc + 0 * V);
        c9_1.intoArray(c, ci + 9 * ldc + 1 * V);
        c10_0.intoArray(c, ci + 10 * ldc + 0 * V);
        c10_1.intoArray(c, ci + 10 * ldc + 1 * V);
        c11_0.intoArray(c, ci + 11 * ldc + 0 * V);
        c11_1.intoArray(c, ci + 11 * ldc + 1 * V);
    }

    /** As {@link #kernel}, but B row k is read in place: vector v at {@code bd[ko[k0 + k] + jb_v]}. */
    private static void kernelDirectB(int kc, float[] ap, int ai, float[] bd, int[] ko, int k0, int jb0, int jb1, float[] c, int ci, int ldc, boolean add) {
        FloatVector c0_0 = FloatVector.zero(S); FloatVector c0_1 = FloatVector.zero(S);
        FloatVector c1_0 = FloatVector.zero(S); FloatVector c1_1 = FloatVector.zero(S);
        FloatVector c2_0 = FloatVector.zero(S); FloatVector c2_1 = FloatVector.zero(S);
        FloatVector c3_0 = FloatVector.zero(S); FloatVector c3_1 = FloatVector.zero(S);
        FloatVector c4_0 = FloatVector.zero(S); FloatVector c4_1 = FloatVector.zero(S);
        FloatVector c5_0 = FloatVector.zero(S); FloatVector c5_1 = FloatVector.zero(S);
        FloatVector c6_0 = FloatVector.zero(S); FloatVector c6_1 = FloatVector.zero(S);
        FloatVector c7_0 = FloatVector.zero(S); FloatVector c7_1 = FloatVector.zero(S);
        FloatVector c8_0 = FloatVector.zero(S); FloatVector c8_1 = FloatVector.zero(S);
        FloatVector c9_0 = FloatVector.zero(S); FloatVector c9_1 = FloatVector.zero(S);
        FloatVector c10_0 = FloatVector.zero(S); FloatVector c10_1 = FloatVector.zero(S);
        FloatVector c11_0 = FloatVector.zero(S); FloatVector c11_1 = FloatVector.zero(S);
        int k = 0;
        // Two steps per iteration: half the loop's index arithmetic and branch per step; exit test on k (see kernel).
        for (int kPairs = kc - 1; k < kPairs; k += 2) {
            {
                int bo = ko[k0 + k];
                FloatVector b0 = FloatVector.fromArray(S, bd, bo + jb0);
                FloatVector b1 = FloatVector.fromArray(S, bd, bo + jb1);
                FloatVector a0 = FloatVector.broadcast(S, ap[ai + k * 12 + 0]);
                c0_0 = a0.fma(b0, c0_0);
                c0_1 = a0.fma(b1, c0_1);
                FloatVector a1 = FloatVector.broadcast(S, ap[ai + k * 12 + 1]);
                c1_0 = a1.fma(b0, c1_0);
                c1_1 = a1.fma(b1, c1_1);
                FloatVector a2 = FloatVector.broadcast(S, ap[ai + k * 12 + 2]);
                c2_0 = a2.fma(b0, c2_0);
                c2_1 = a2.fma(b1, c2_1);
                FloatVector a3 = FloatVector.broadcast(S, ap[ai + k * 12 + 3]);
                c3_0 = a3.fma(b0, c3_0);
                c3_1 = a3.fma(b1, c3_1);
                FloatVector a4 = FloatVector.broadcast(S, ap[ai + k * 12 + 4]);
                c4_0 = a4.fma(b0, c4_0);
                c4_1 = a4.fma(b1, c4_1);
                FloatVector a5 = FloatVector.broadcast(S, ap[ai + k * 12 + 5]);
                c5_0 = a5.fma(b0, c5_0);
                c5_1 = a5.fma(b1, c5_1);
                FloatVector a6 = FloatVector.broadcast(S, ap[ai + k * 12 + 6]);
                c6_0 = a6.fma(b0, c6_0);
                c6_1 = a6.fma(b1, c6_1);
                FloatVector a7 = FloatVector.broadcast(S, ap[ai + k * 12 + 7]);
                c7_0 = a7.fma(b0, c7_0);
                c7_1 = a7.fma(b1, c7_1);
                FloatVector a8 = FloatVector.broadcast(S, ap[ai + k * 12 + 8]);
                c8_0 = a8.fma(b0, c8_0);
                c8_1 = a8.fma(b1, c8_1);
                FloatVector a9 = FloatVector.broadcast(S, ap[ai + k * 12 + 9]);
                c9_0 = a9.fma(b0, c9_0);
                c9_1 = a9.fma(b1, c9_1);
                FloatVector a10 = FloatVector.broadcast(S, ap[ai + k * 12 + 10]);
                c10_0 = a10.fma(b0, c10_0);
                c10_1 = a10.fma(b1, c10_1);
                FloatVector a11 = FloatVector.broadcast(S, ap[ai + k * 12 + 11]);
                c11_0 = a11.fma(b0, c11_0);
                c11_1 = a11.fma(b1, c11_1);
            }
            {
                int bo = ko[k0 + (k + 1)];
                FloatVector b0 = FloatVector.fromArray(S, bd, bo + jb0);
                FloatVector b1 = FloatVector.fromArray(S, bd, bo + jb1);
                FloatVector a0 = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 0]);
                c0_0 = a0.fma(b0, c0_0);
                c0_1 = a0.fma(b1, c0_1);
                FloatVector a1 = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 1]);
                c1_0 = a1.fma(b0, c1_0);
                c1_1 = a1.fma(b1, c1_1);
                FloatVector a2 = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 2]);
                c2_0 = a2.fma(b0, c2_0);
                c2_1 = a2.fma(b1, c2_1);
                FloatVector a3 = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 3]);
                c3_0 = a3.fma(b0, c3_0);
                c3_1 = a3.fma(b1, c3_1);
                FloatVector a4 = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 4]);
                c4_0 = a4.fma(b0, c4_0);
                c4_1 = a4.fma(b1, c4_1);
                FloatVector a5 = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 5]);
                c5_0 = a5.fma(b0, c5_0);
                c5_1 = a5.fma(b1, c5_1);
                FloatVector a6 = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 6]);
                c6_0 = a6.fma(b0, c6_0);
                c6_1 = a6.fma(b1, c6_1);
                FloatVector a7 = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 7]);
                c7_0 = a7.fma(b0, c7_0);
                c7_1 = a7.fma(b1, c7_1);
                FloatVector a8 = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 8]);
                c8_0 = a8.fma(b0, c8_0);
                c8_1 = a8.fma(b1, c8_1);
                FloatVector a9 = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 9]);
                c9_0 = a9.fma(b0, c9_0);
                c9_1 = a9.fma(b1, c9_1);
                FloatVector a10 = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 10]);
                c10_0 = a10.fma(b0, c10_0);
                c10_1 = a10.fma(b1, c10_1);
                FloatVector a11 = FloatVector.broadcast(S, ap[ai + (k + 1) * 12 + 11]);
                c11_0 = a11.fma(b0, c11_0);
                c11_1 = a11.fma(b1, c11_1);
            }
        }
        if (k < kc) {
            {
                int bo = ko[k0 + k];
                FloatVector b0 = FloatVector.fromArray(S, bd, bo + jb0);
                FloatVector b1 = FloatVector.fromArray(S, bd, bo + jb1);
                FloatVector a0 = FloatVector.broadcast(S, ap[ai + k * 12 + 0]);
                c0_0 = a0.fma(b0, c0_0);
                c0_1 = a0.fma(b1, c0_1);
                FloatVector a1 = FloatVector.broadcast(S, ap[ai + k * 12 + 1]);
                c1_0 = a1.fma(b0, c1_0);
                c1_1 = a1.fma(b1, c1_1);
                FloatVector a2 = FloatVector.broadcast(S, ap[ai + k * 12 + 2]);
                c2_0 = a2.fma(b0, c2_0);
                c2_1 = a2.fma(b1, c2_1);
                FloatVector a3 = FloatVector.broadcast(S, ap[ai + k * 12 + 3]);
                c3_0 = a3.fma(b0, c3_0);
                c3_1 = a3.fma(b1, c3_1);
                FloatVector a4 = FloatVector.broadcast(S, ap[ai + k * 12 + 4]);
                c4_0 = a4.fma(b0, c4_0);
                c4_1 = a4.fma(b1, c4_1);
                FloatVector a5 = FloatVector.broadcast(S, ap[ai + k * 12 + 5]);
                c5_0 = a5.fma(b0, c5_0);
                c5_1 = a5.fma(b1, c5_1);
                FloatVector a6 = FloatVector.broadcast(S, ap[ai + k * 12 + 6]);
                c6_0 = a6.fma(b0, c6_0);
                c6_1 = a6.fma(b1, c6_1);
                FloatVector a7 = FloatVector.broadcast(S, ap[ai + k * 12 + 7]);
                c7_0 = a7.fma(b0, c7_0);
                c7_1 = a7.fma(b1, c7_1);
                FloatVector a8 = FloatVector.broadcast(S, ap[ai + k * 12 + 8]);
                c8_0 = a8.fma(b0, c8_0);
                c8_1 = a8.fma(b1, c8_1);
                FloatVector a9 = FloatVector.broadcast(S, ap[ai + k * 12 + 9]);
                c9_0 = a9.fma(b0, c9_0);
                c9_1 = a9.fma(b1, c9_1);
                FloatVector a10 = FloatVector.broadcast(S, ap[ai + k * 12 + 10]);
                c10_0 = a10.fma(b0, c10_0);
                c10_1 = a10.fma(b1, c10_1);
                FloatVector a11 = FloatVector.broadcast(S, ap[ai + k * 12 + 11]);
                c11_0 = a11.fma(b0, c11_0);
                c11_1 = a11.fma(b1, c11_1);
            }
        }
        if (add) {
            c0_0 = c0_0.add(FloatVector.fromArray(S, c, ci + 0 * ldc + 0 * V));
            c0_1 = c0_1.add(FloatVector.fromArray(S, c, ci + 0 * ldc + 1 * V));
            c1_0 = c1_0.add(FloatVector.fromArray(S, c, ci + 1 * ldc + 0 * V));
            c1_1 = c1_1.add(FloatVector.fromArray(S, c, ci + 1 * ldc + 1 * V));
            c2_0 = c2_0.add(FloatVector.fromArray(S, c, ci + 2 * ldc + 0 * V));
            c2_1 = c2_1.add(FloatVector.fromArray(S, c, ci + 2 * ldc + 1 * V));
            c3_0 = c3_0.add(FloatVector.fromArray(S, c, ci + 3 * ldc + 0 * V));
            c3_1 = c3_1.add(FloatVector.fromArray(S, c, ci + 3 * ldc + 1 * V));
            c4_0 = c4_0.add(FloatVector.fromArray(S, c, ci + 4 * ldc + 0 * V));
            c4_1 = c4_1.add(FloatVector.fromArray(S, c, ci + 4 * ldc + 1 * V));
            c5_0 = c5_0.add(FloatVector.fromArray(S, c, ci + 5 * ldc + 0 * V));
            c5_1 = c5_1.add(FloatVector.fromArray(S, c, ci + 5 * ldc + 1 * V));
            c6_0 = c6_0.add(FloatVector.fromArray(S, c, ci + 6 * ldc + 0 * V));
            c6_1 = c6_1.add(FloatVector.fromArray(S, c, ci + 6 * ldc + 1 * V));
            c7_0 = c7_0.add(FloatVector.fromArray(S, c, ci + 7 * ldc + 0 * V));
            c7_1 = c7_1.add(FloatVector.fromArray(S, c, ci + 7 * ldc + 1 * V));
            c8_0 = c8_0.add(FloatVector.fromArray(S, c, ci + 8 * ldc + 0 * V));
            c8_1 = c8_1.add(FloatVector.fromArray(S, c, ci + 8 * ldc + 1 * V));
            c9_0 = c9_0.add(FloatVector.fromArray(S, c, ci + 9 * ldc + 0 * V));
            c9_1 = c9_1.add(FloatVector.fromArray(S, c, ci + 9 * ldc + 1 * V));
            c10_0 = c10_0.add(FloatVector.fromArray(S, c, ci + 10 * ldc + 0 * V));
            c10_1 = c10_1.add(FloatVector.fromArray(S, c, ci + 10 * ldc + 1 * V));
            c11_0 = c11_0.add(FloatVector.fromArray(S, c, ci + 11 * ldc + 0 * V));
            c11_1 = c11_1.add(FloatVector.fromArray(S, c, ci + 11 * ldc + 1 * V));
        }
        c0_0.intoArray(c, ci + 0 * ldc + 0 * V);
        c0_1.intoArray(c, ci + 0 * ldc + 1 * V);
        c1_0.intoArray(c, ci + 1 * ldc + 0 * V);
        c1_1.intoArray(c, ci + 1 * ldc + 1 * V);
        c2_0.intoArray(c, ci + 2 * ldc + 0 * V);
        c2_1.intoArray(c, ci + 2 * ldc + 1 * V);
        c3_0.intoArray(c, ci + 3 * ldc + 0 * V);
        c3_1.intoArray(c, ci + 3 * ldc + 1 * V);
        c4_0.intoArray(c, ci + 4 * ldc + 0 * V);
        c4_1.intoArray(c, ci + 4 * ldc + 1 * V);
        c5_0.intoArray(c, ci + 5 * ldc + 0 * V);
        c5_1.intoArray(c, ci + 5 * ldc + 1 * V);
        c6_0.intoArray(c, ci + 6 * ldc + 0 * V);
        c6_1.intoArray(c, ci + 6 * ldc + 1 * V);
        c7_0.intoArray(c, ci + 7 * ldc + 0 * V);
        c7_1.intoArray(c, ci + 7 * ldc + 1 * V);
        c8_0.intoArray(c, ci + 8 * ldc + 0 * V);
        c8_1.intoArray(c, ci + 8 * ldc + 1 * V);
        c9_0.intoArray(c, ci + 9 * ldc + 0 * V);
        c9_1.intoArray(c, ci + 9 * ldc + 1 * V);
        c10_0.intoArray(c, ci + 10 * ldc + 0 * V);
        c10_1.intoArray(c, ci + 10 * ldc + 1 * V);
        c11_0.intoArray(c, ci + 11 * ldc + 0 * V);
        c11_1.intoArray(c, ci + 11 * ldc + 1 * V);
    }
    // END GENERATED KERNEL

    // ---------------------------------------------------------------------------------------------
    // Packing of strided tensor views

    /** A strided matrix view over a heap F32 array or an F32/F16/BF16/Q8_0 little-endian segment. */
    static final class Strided {
        private final float[] arr;
        private final MemorySegment seg;
        private final DType dtype;
        private final long off;
        private final long rs;
        private final long cs;

        /** Per-thread scratch: 0, 1 for packing B, 2, 3 for packing A. */
        private static final ThreadBuffers SCRATCH = new ThreadBuffers(4);

        private static float[] scratch(int which, int size) {
            return SCRATCH.get(which, size);
        }

        Strided(Tensor t, long offset, long rowStride, long colStride) {
            this.dtype = t.dtype();
            if (t.isHeap()) {
                this.arr = t.array();
                this.seg = null;
                this.off = t.offset() + offset;
            } else {
                this.arr = null;
                this.seg = t.segment();
                this.off = offset;
            }
            this.rs = rowStride;
            this.cs = colStride;
        }

        private float get(long idx) {
            if (arr != null) {
                return arr[(int) idx];
            }
            return switch (dtype) {
                case F32 -> seg.get(F32_LE, idx * 4);
                case F16 -> Float.float16ToFloat(seg.get(I16_LE, idx * 2));
                case BF16 -> HalfFloats.bf16ToFloat(seg.get(I16_LE, idx * 2));
                case Q8_0 -> Quantized.get(seg, idx);
            };
        }

        /** Reads {@code len} consecutive elements from element {@code idx} into {@code dst[d..]}. */
        private void run(long idx, int len, float[] dst, int d) {
            if (arr != null) {
                System.arraycopy(arr, (int) idx, dst, d, len);
                return;
            }
            // F16 by C2's vectorised loop of Float.float16ToFloat, BF16 with vectors, Q8_0 dequantised by block.
            HalfFloats.toFloats(seg, dtype, idx, dst, d, len);
        }

        /** {@link PackA#pack} writing the panels from {@code dst[dOff]} on. */
        void packA(int i0, int mc, int k0, int kc, float[] dst, int dOff) {
            int panels = (mc + MR - 1) / MR;
            float[] tmp = cs == 1 && arr == null ? scratch(2, kc) : null;
            float[] block = null;
            int p = 0;
            if (rs == 1 && cs != 1 && arr != null && MR == 12 && V == 16) {
                // Columns contiguous along M in a heap array (e.g. an NCHW image read as pixels × channels): one
                // contiguous run of the block's rows per k, cut into the whole panels (MR = 8 + 4 values each, two
                // small vectors); panel by panel instead, each k would be a new line, channels apart.
                int whole = mc / MR;
                long src = off + (long) k0 * cs + i0;
                for (int k = 0; k < kc; k++, src += cs) {
                    int s = (int) src;
                    for (int q = 0, o = dOff + k * MR; q < whole; q++, s += MR, o += MR * kc) {
                        FloatVector.fromArray(S8, arr, s).intoArray(dst, o);
                        FloatVector.fromArray(S4, arr, s + 8).intoArray(dst, o + 8);
                    }
                }
                p = whole;
            }
            for (; p < panels; p++) {
                int d = dOff + p * MR * kc;
                int rows = Math.min(MR, mc - p * MR);
                if (cs == 1 && rows == MR && arr != null && rs <= Integer.MAX_VALUE / MR) {
                    gatherPanel(arr, (int) (off + (long) (i0 + p * MR) * rs + k0), (int) rs, kc, dst, d);
                } else if (cs == 1 && rows == MR && arr == null) {
                    // Convert the panel's rows a chunk of K at a time into a small row-major block, then gather it
                    // like a heap one: the block stays in L1 (the whole K block at once made the pack 1.5x slower).
                    if (block == null) {
                        block = scratch(3, MR * PACK_CHUNK);
                    }
                    for (int k = 0; k < kc; k += PACK_CHUNK) {
                        int len = Math.min(PACK_CHUNK, kc - k);
                        for (int r = 0; r < MR; r++) {
                            run(off + (long) (i0 + p * MR + r) * rs + k0 + k, len, block, r * len);
                        }
                        gatherPanel(block, 0, len, len, dst, d + k * MR);
                    }
                } else if (cs == 1) {
                    // Rows are contiguous along K: read a row, scatter it with stride MR.
                    for (int r = 0; r < rows; r++) {
                        long src = off + (long) (i0 + p * MR + r) * rs + k0;
                        float[] from;
                        int f;
                        if (arr != null) {
                            from = arr;
                            f = (int) src;
                        } else {
                            run(src, kc, tmp, 0);
                            from = tmp;
                            f = 0;
                        }
                        for (int k = 0; k < kc; k++) {
                            dst[d + k * MR + r] = from[f + k];
                        }
                    }
                } else if (rs == 1) {
                    // Columns are contiguous along M: each k gives MR consecutive values.
                    for (int k = 0; k < kc; k++) {
                        run(off + (long) (k0 + k) * cs + i0 + p * MR, rows, dst, d + k * MR);
                    }
                } else {
                    for (int r = 0; r < rows; r++) {
                        long src = off + (long) (i0 + p * MR + r) * rs + (long) k0 * cs;
                        for (int k = 0; k < kc; k++) {
                            dst[d + k * MR + r] = get(src + k * cs);
                        }
                    }
                }
                if (rows < MR) {
                    for (int k = 0; k < kc; k++) {
                        Arrays.fill(dst, d + k * MR + rows, d + (k + 1) * MR, 0f);
                    }
                }
            }
        }

        /** Columns (K) of a half-precision (or quantised) A panel converted at a time before they are gathered. */
        private static final int PACK_CHUNK = 64;
        private static final int[] CHUNK_MAP = gatherMap(PACK_CHUNK);

        /** Indices of the gathers of {@link #gatherPanel} for rows {@code ld} apart. */
        private static int[] gatherMap(int ld) {
            int[] map = new int[GATHER_K * MR];
            for (int e = 0; e < map.length; e++) {
                map[e] = (e % MR) * ld + e / MR;
            }
            return map;
        }

        /**
         * Per-thread gather indices last used by {@link #gatherPanel} and {@link #gatherColumns} (element 1 of either
         * is its row stride): made per call, they were some 30 MB of a U-Net step's garbage.
         */
        private static final ThreadLocal<int[][]> MAPS = ThreadLocal.withInitial(() -> new int[2][]);

        private static int[] panelMap(int ld) {
            if (ld == PACK_CHUNK) {
                return CHUNK_MAP;
            }
            int[][] maps = MAPS.get();
            if (maps[0] == null || maps[0][1] != ld) {
                maps[0] = gatherMap(ld);
            }
            return maps[0];
        }

        private static int[] columnMap(int ld) {
            int[][] maps = MAPS.get();
            if (maps[1] == null || maps[1][1] != ld) {
                int[] map = new int[V];
                for (int t = 0; t < V; t++) {
                    map[t] = t * ld;
                }
                maps[1] = map;
            }
            return maps[1];
        }

        /**
         * Packs one whole panel of MR rows from a row-major block ({@code src[base + r·ld + k]}) by gathers:
         * every {@code GATHER_K} steps of K fill exactly {@code GATHER_VECTORS} vectors of the panel.
         */
        static void gatherPanel(float[] src, int base, int ld, int kc, float[] dst, int d) {
            int[] map = panelMap(ld);
            int k = 0;
            for (; k + GATHER_K <= kc; k += GATHER_K) {
                int o = d + k * MR;
                for (int v = 0; v < GATHER_VECTORS; v++) {
                    FloatVector.fromArray(S, src, base + k, map, v * V).intoArray(dst, o + v * V);
                }
            }
            for (; k < kc; k++) {
                for (int r = 0; r < MR; r++) {
                    dst[d + k * MR + r] = src[base + r * ld + k];
                }
            }
        }

        /**
         * Packs one whole panel of NR columns stored as rows ({@code src[base + j·ld + k]}, i.e. Bᵀ row-major)
         * by gathers: each vector of the panel row k takes element k of V consecutive rows.
         */
        private static void gatherColumns(float[] src, int base, int ld, int kc, float[] dst, int d) {
            int[] map = columnMap(ld);
            for (int v = 0; v < NR; v += V) {
                int b = base + v * ld;
                for (int k = 0; k < kc; k++) {
                    FloatVector.fromArray(S, src, b + k, map, 0).intoArray(dst, d + k * NR + v);
                }
            }
        }

        void packB(int k0, int kc, int j0, int nc, float[] dst) {
            packB(k0, kc, j0, nc, dst, 0);
        }

        /** {@link PackB#pack} writing the panels from {@code dst[dOff]} on. */
        void packB(int k0, int kc, int j0, int nc, float[] dst, int dOff) {
            int panels = (nc + NR - 1) / NR;
            // Per-thread scratch: FusedLinear packs panel by panel, a new block per call would cost as much as the packing.
            float[] tmp = rs == 1 && arr == null ? scratch(0, kc) : null;
            float[] block = null;
            int first = 0;
            if (cs == 1 && arr != null) {
                // Whole panels from heap rows: vector copies, a few rows at a time across all the panels. Panel by
                // panel over all of K, rows far apart (a 1x1 convolution's channels, 1 MiB apart at 512x512) put
                // every row's next 128 bytes in the same cache set as the others: 40 GFLOP/s for the decoder's
                // 256->128 shortcut at 512x512.
                int whole = nc / NR;
                int step = (int) rs;
                for (int kk = 0; kk < kc; kk += PACK_ROWS) {
                    int ke = Math.min(kc, kk + PACK_ROWS);
                    for (int p = 0; p < whole; p++) {
                        int d = dOff + p * NR * kc;
                        int src = (int) (off + (long) (k0 + kk) * rs + j0 + p * NR);
                        for (int k = kk; k < ke; k++, src += step) {
                            for (int v = 0; v < NR; v += V) {
                                FloatVector.fromArray(S, arr, src + v).intoArray(dst, d + k * NR + v);
                            }
                        }
                    }
                }
                first = whole;
            }
            for (int p = first; p < panels; p++) {
                int d = dOff + p * NR * kc;
                int cols = Math.min(NR, nc - p * NR);
                if (cs == 1) {
                    for (int k = 0; k < kc; k++) {
                        run(off + (long) (k0 + k) * rs + j0 + p * NR, cols, dst, d + k * NR);
                    }
                } else if (rs == 1) {
                    // B = Wᵀ of a row-major W: each column of B is a contiguous row of W.
                    if (cols == NR && arr != null && cs <= Integer.MAX_VALUE / NR) {
                        gatherColumns(arr, (int) (off + (long) (j0 + p * NR) * cs + k0), (int) cs, kc, dst, d);
                        continue;
                    }
                    if (cols == NR && arr == null) {
                        if (block == null) {
                            block = scratch(1, NR * kc);
                        }
                        for (int j = 0; j < NR; j++) {
                            run(off + (long) (j0 + p * NR + j) * cs + k0, kc, block, j * kc);
                        }
                        gatherColumns(block, 0, kc, kc, dst, d);
                        continue;
                    }
                    for (int j = 0; j < cols; j++) {
                        long src = off + (long) (j0 + p * NR + j) * cs + k0;
                        float[] from;
                        int f;
                        if (arr != null) {
                            from = arr;
                            f = (int) src;
                        } else {
                            run(src, kc, tmp, 0);
                            from = tmp;
                            f = 0;
                        }
                        for (int k = 0; k < kc; k++) {
                            dst[d + k * NR + j] = from[f + k];
                        }
                    }
                } else {
                    for (int j = 0; j < cols; j++) {
                        long src = off + (long) (j0 + p * NR + j) * cs + (long) k0 * rs;
                        for (int k = 0; k < kc; k++) {
                            dst[d + k * NR + j] = get(src + k * rs);
                        }
                    }
                }
                if (cols < NR) {
                    for (int k = 0; k < kc; k++) {
                        Arrays.fill(dst, d + k * NR + cols, d + (k + 1) * NR, 0f);
                    }
                }
            }
        }
    }
}
