package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ArrayAlignment;
import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.HalfFloats;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;
import java.util.concurrent.ConcurrentLinkedQueue;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * 3×3 stride-1 convolution by Winograd's minimal filtering F(4×4, 3×3) (Lavin &amp; Gray, 2015): each 4×4
 * output tile is {@code Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A} of its 6×6 input tile {@code d}, so the 36 element-wise
 * products, summed over input channels, are 36 independent GEMMs {@code M[ξ] = U[ξ] · V[ξ]} ({@code U[ξ]}:
 * {@code Cout × Cin} transformed weights, {@code V[ξ]}: {@code Cin × tiles} transformed input) on {@link Gemm}.
 * That is 36 multiplications per 16 outputs instead of 144, i.e. 4× fewer for whole tiles.
 *
 * <p>Schedule (see {@link Plan}): the tiles are taken in bands of tile rows; per band the input is transformed once
 * into V, laid out in the GEMM's B panels so the GEMMs read it in place as contiguous runs. The weights are
 * transformed once per call into U in the GEMM's packed A layout, shared by all bands and threads (or, when one
 * task covers all tiles, by each task for its own block just before use, while in cache). Tasks of (a block of
 * output channels) × (a chunk of tiles) run their 36 GEMMs into a small M and transform it straight to the output.
 *
 * <p>Memory stays bounded per call: V of one band is at most {@link #V_BUDGET} floats (40 MiB), U at most
 * {@link #U_BUDGET} floats (64 MiB: all transformed weights of up to 640 × 640 channels; more output channels are
 * taken in groups, U made again per band and group), and each thread's scratch (its task's 36 GEMM outputs and the
 * de-interleaved kernels) about 5 MiB: under 115 MiB on 2 threads besides the output. Transformed weights are never
 * kept across calls (weights are often memory-mapped F16; the model must fit a memory budget).
 *
 * <p>The input is read only through {@link ConvRows}, one row at a time, into a small zero-bordered buffer of six
 * rows (consecutive tile rows share two of them), so a fused producer (GroupNorm+SiLU, nearest upsampling) can
 * stand in for a tensor and makes each row about once per band.
 *
 * <p>Accuracy (float32): the transforms scale values by up to about 10 (points 0, ±1, ±2, ∞), so the rounding
 * error is larger than the direct convolution's: against a double-precision reference ({@code WinogradTest}) the
 * largest error is 7e-6…1.1e-5 of the largest output for 128…2560 input channels, 16–36× the implicit GEMM's.
 */
public final class Winograd {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Output tile side (m) and input tile side (m + r - 1). */
    private static final int M = 4;
    private static final int A = 6;
    /** Positions of the transformed tile: the number of GEMMs. */
    private static final int P = A * A;
    /**
     * Where V, U, M and the de-interleaved weights start in their buffers: their panels and planes on cache lines when
     * the JVM aligns objects (see ArrayAlignment), so that no vector load or store of them splits two lines.
     */
    private static final int VOFF = ArrayAlignment.FLOAT_OFFSET;
    /**
     * Floats of the transformed input of one band (40 MiB); one tile row is always taken whole. At 24 MiB the U-Net's
     * 1920 → 640 convolution at 32×32 took two bands, which made its weights twice and left the fused schedule:
     * 97…107 → 69…72 ms a call (WinogradPhases, 2 threads, alternating runs).
     */
    static final int V_BUDGET = 10 << 20;
    /** Largest tiles per band (bounds each task's products {@code 36 · rows · tiles}). */
    static final int MAX_BAND_TILES = 512;
    /**
     * Largest rows (output channels, in panels of {@link Gemm#MR}) of one task's block, and largest tiles of its chunk
     * (a multiple of {@link Gemm#NR}; at most a band). Chosen by thread CPU time on 1 thread against the previous
     * schedule (8 panels, whole bands): 4 panels and 512 tiles were the best or within noise of it on every U-Net and
     * decoder shape tried; 8 or 16 panels lost up to 15 % at 1280 channels on 16×16. Chunks of 256 tiles rather than
     * 512 (wall time on 2 threads, alternating runs): the task's 36 GEMM outputs (36 · 48 · 272 floats, 1.9 MB) then
     * stay in L2 between the GEMMs and the output transform; 12…22 % faster on the decoder's 128…256-channel
     * convolutions at 256² and 512², the same within noise on the U-Net's.
     */
    private static final int MAX_BLOCK_PANELS = 4;
    static final int CHUNK_TILES = 256;
    /**
     * Floats of one chunk's transformed input (32 MiB) past which a task's block has {@link #DEEP_V_BLOCK_PANELS}
     * panels: the up-blocks' first convolutions (1920 → 640 at 32×32, 960 → 320 at 64×64: 35 MB a chunk) 74–80 →
     * 64–69 ms a call on 2 threads (two rounds, 8 or 12 panels alike), where 1280 → 640 and 960 → 640 at 32×32 and
     * 640 → 320 at 64×64 (18–24 MB) were the same or up to 15 % slower with 8 panels.
     */
    static final long DEEP_V_FLOATS = 8L << 20;
    private static final int DEEP_V_BLOCK_PANELS = 8;
    /**
     * The schedule of large maps (the VAE decoder's 128…512 channels at 128² to 512², one image): blocks of up to 12
     * panels (all of 128 output channels) and chunks of 128 tiles, so each transformed-input panel read from L3 serves
     * three times the rows with the task's products still in L2. Two alternating runs against 4 panels and 256 tiles:
     * 5…12 % faster on those shapes; the U-Net's (64² and smaller) mixed, so they keep the schedule above.
     */
    private static final long LARGE_MAP_PIXELS = 128 * 128;
    private static final int LARGE_MAP_BLOCK_PANELS = 12;
    private static final int LARGE_MAP_CHUNK_TILES = 128;
    /**
     * Maps from 64×64 up to the large ones with more tiles than one chunk of {@link #CHUNK_TILES} (the U-Net's first
     * level, a guided batch of 2): blocks of 8 panels and chunks of 128 tiles, as many products' outputs per task as 4
     * × 256 (M stays in L2), each transformed-input panel serving twice the rows. In one process, both orders
     * ({@code GemmTiming --ab}, F16 weights, 2 threads): 640 → 320 1.09 and 1/0.96, 960 → 320 (8 × 256 before) 1.08
     * and 1/1.00, 640 → 640 1.03 and 1/0.95, 320 → 320 0.98 and 1/0.95. One image of 64×64 (the decoder's 512
     * channels, one chunk) keeps the one-task-per-block schedule: 8 × 128 there was 10 % slower.
     */
    private static final long MID_MAP_PIXELS = 64 * 64;
    private static final int MID_MAP_BLOCK_PANELS = 8;
    private static final int MID_MAP_CHUNK_TILES = 128;
    /**
     * Floats of the transformed weights held at once (64 MiB): all of them for up to 640 × 640 channels. At 40 MiB the
     * U-Net's 640 → 640 (upsampling) and 960 → 320 convolutions at 64×64 took two groups, each made once per band:
     * 640 → 640 95…98 → 85…90 ms a call, its weight transform 15 → 8 thread-ms.
     */
    static final int U_BUDGET = 16 << 20;
    /**
     * Input channels transformed into a staging buffer before V gets them (runs of 8 · 128 bytes per position and
     * panel): the input transform at 64×64, 320 channels, 15 → 7 ms on one thread; the whole call 12 % faster on two.
     */
    static final int STAGE_CHANNELS = 8;
    /** Per-thread staging buffer of the input transform (at most 36 · 8 · 512 floats). */
    private static final ThreadBuffers STAGE = new ThreadBuffers(1);
    /** Columns of a packed panel after which it ends on a vector boundary, and the vectors they fill (as Gemm's). */
    private static final int GATHER_K = Gemm.GATHER_K;
    private static final int GATHER_VECTORS = Gemm.GATHER_VECTORS;
    /**
     * G of F(4,3), the 6×3 kernel transform (interpolation at 0, ±1, ±2 and ∞), rows {@code (1/4, 0, 0)},
     * {@code -(1, ±1, 1)/6}, {@code (1, ±2, 4)/24}, {@code (0, 0, 1)}: its rows are made in groups that share sums
     * (see {@link Plan#transformWeightRows}): first row and number of rows of each group.
     */
    private static final int[] ROW_FIRST = {0, 1, 3, 5};
    private static final int[] ROW_COUNT = {1, 2, 2, 1};
    /**
     * Two-vector shuffles that take a tile's four columns apart and put them back together without gathers or
     * scatters (a gather or scatter of L lanes costs about L loads or stores). Indices at or past L select from the
     * second vector. {@code COLS_LO / COLS_HI}: from 2L consecutive floats (L/2 tiles of 4), columns 0 and 1 (resp.
     * 2 and 3) of the L/2 tiles; {@code HALF_LO / HALF_HI}: the low (resp. high) halves of two vectors one after the
     * other; {@code ZIP_LO / ZIP_HI}: the low (resp. high) halves of two vectors interleaved lane by lane;
     * {@code PAIR_LO / PAIR_HI}: the same, two lanes at a time; {@code NEXT}: one lane on.
     */
    private static final VectorShuffle<Float> COLS_LO = shuffle(i -> 4 * (i % (L / 2)) + i / (L / 2));
    private static final VectorShuffle<Float> COLS_HI = shuffle(i -> 4 * (i % (L / 2)) + i / (L / 2) + 2);
    private static final VectorShuffle<Float> HALF_LO = shuffle(i -> i < L / 2 ? i : i + L / 2);
    private static final VectorShuffle<Float> HALF_HI = shuffle(i -> i < L / 2 ? i + L / 2 : i + L);
    private static final VectorShuffle<Float> ZIP_LO = shuffle(i -> i / 2 + (i % 2) * L);
    private static final VectorShuffle<Float> ZIP_HI = shuffle(i -> i / 2 + L / 2 + (i % 2) * L);
    private static final VectorShuffle<Float> PAIR_LO = shuffle(i -> 2 * (i / 4) + i % 2 + ((i / 2) % 2) * L);
    private static final VectorShuffle<Float> PAIR_HI = shuffle(i -> 2 * (i / 4) + i % 2 + ((i / 2) % 2) * L + L / 2);
    private static final VectorShuffle<Float> NEXT = shuffle(i -> i + 1);
    /**
     * Diagnostics: with {@code -Dd4j.winograd.profile=true} every call adds the nanoseconds of its phases here (summed
     * over threads, except the wall time): input transform, weight transform, GEMMs, output transform, wall.
     */
    private static final boolean PROFILE = Boolean.getBoolean("d4j.winograd.profile");
    private static final java.util.concurrent.atomic.LongAdder[] PHASES = new java.util.concurrent.atomic.LongAdder[5];

    static {
        for (int i = 0; i < PHASES.length; i++) {
            PHASES[i] = new java.util.concurrent.atomic.LongAdder();
        }
    }

    private Winograd() {
    }

    /**
     * The phase times added up since the last reset when {@code -Dd4j.winograd.profile=true} (else zeros), in
     * nanoseconds: input transform, weight transform (also when each task transforms its own weights), GEMMs, output
     * transform (each summed over threads), and wall time of the calls.
     *
     * @param reset whether to start counting again from zero
     */
    public static long[] phaseNanos(boolean reset) {
        long[] t = new long[PHASES.length];
        for (int i = 0; i < t.length; i++) {
            t[i] = reset ? PHASES[i].sumThenReset() : PHASES[i].sum();
        }
        return t;
    }

    private static VectorShuffle<Float> shuffle(java.util.function.IntUnaryOperator index) {
        int[] map = new int[L];
        for (int i = 0; i < L; i++) {
            map[i] = index.applyAsInt(i);
        }
        return VectorShuffle.fromArray(S, map, 0);
    }


    /**
     * Whether {@link Conv2d} should compute this convolution here: a 3×3 kernel, stride 1, padding at most 2
     * per side, {@code algorithm} {@link ConvAlgorithm#AUTO}, and a size where it was measured to be faster than
     * the implicit GEMM on 2 threads (see {@code ConvTiming}):
     * <ul>
     * <li>at least 256 input and output channels, output maps of at least 16×16 and at least 32 output tiles of
     * 4×4 over the batch (one whole 32-column GEMM panel: 1280 channels at 16×16 gain 1.25× with batch 2 but lose
     * 0.7× with batch 1, and 8×8 maps lose 0.5×: {@code WinogradF2} takes those);</li>
     * <li>or at least 128 channels on maps of at least 128×128 (the VAE decoder's last levels: 1.3…1.7×).</li>
     * </ul>
     * With 64 channels the transforms cost about what the GEMM saves (0.8…1.0×), so the direct path stays.
     * One row of tiles must also fit the per-call memory budget. Malformed arguments are left to the caller.
     */
    public static boolean pays(ConvAlgorithm algorithm, Tensor x, Tensor weight, Tensor bias, int stride,
                               int padTop, int padBottom, int padLeft, int padRight) {
        return x.rank() == 4 && pays(algorithm, x.dim(0), x.dim(1), x.dim(2), x.dim(3), weight, bias, stride,
                padTop, padBottom, padLeft, padRight);
    }

    /** {@link #pays(ConvAlgorithm, Tensor, Tensor, Tensor, int, int, int, int, int)} for an input of the given size. */
    static boolean pays(ConvAlgorithm algorithm, int batch, int channels, int height, int width, Tensor weight,
                        Tensor bias, int stride, int padTop, int padBottom, int padLeft, int padRight) {
        if (algorithm != ConvAlgorithm.AUTO || weight.rank() != 4 || stride != 1
                || weight.dim(2) != 3 || weight.dim(3) != 3 || channels != weight.dim(1)
                || (bias != null && (bias.rank() != 1 || bias.dim(0) != weight.dim(0)))) {
            return false;
        }
        if (padTop > 2 || padBottom > 2 || padLeft > 2 || padRight > 2
                || padTop < 0 || padBottom < 0 || padLeft < 0 || padRight < 0) {
            return false;
        }
        int hout = height + padTop + padBottom - 2;
        int wout = width + padLeft + padRight - 2;
        int cin = weight.dim(1);
        int cout = weight.dim(0);
        int tilesX = (wout + M - 1) / M;
        if (hout < 16 || wout < 16 || (long) P * cin * roundUp(tilesX, Gemm.NR) > V_BUDGET) {
            return false;
        }
        int narrowest = Math.min(cin, cout);
        long tiles = (long) batch * ((hout + M - 1) / M) * tilesX;
        return (narrowest >= 256 && tiles >= Gemm.NR) || (narrowest >= 128 && (long) hout * wout >= 128 * 128);
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
        ConvRows rows = ConvRows.of(Kernels.heap(x));
        return conv3x3(pool, rows, weight, bias, residual, false, padTop, padBottom, padLeft, padRight);
    }

    /**
     * As {@link #conv3x3(ComputePool, Tensor, Tensor, Tensor, Tensor, int, int, int, int)}, the input given by rows;
     * with {@code residualIsScratch} the output is written into the residual's storage (each element is read before
     * it is written, at the same index) when that is a whole heap F32 array.
     */
    static Tensor conv3x3(ComputePool pool, ConvRows x, Tensor weight, Tensor bias, Tensor residual,
                          boolean residualIsScratch, int padTop, int padBottom, int padLeft, int padRight) {
        return conv3x3(pool, x, weight, bias, residual, residualIsScratch, padTop, padBottom, padLeft, padRight,
                MAX_BAND_TILES, CHUNK_TILES, U_BUDGET);
    }

    /**
     * As above with the schedule's limits given (tests make them small): the most tiles per band and per task
     * chunk, and the most floats of transformed weights held at once.
     */
    static Tensor conv3x3(ComputePool pool, ConvRows x, Tensor weight, Tensor bias, Tensor residual,
                          boolean residualIsScratch, int padTop, int padBottom, int padLeft, int padRight,
                          int bandTiles, int chunkTiles, int uBudget) {
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
        Tensor reuse = null;
        if (residual != null) {
            Shape want = Shape.of(n, cout, hout, wout);
            if (!residual.shape().equals(want)) {
                throw new IllegalArgumentException("winograd conv3x3: residual must be " + want + shapes);
            }
            Tensor r = residual.isHeap() ? residual : residual.toHeapF32();
            res = r.array();
            resOff = r.offset();
            if (residualIsScratch && Kernels.ownsStorage(residual)) {
                reuse = residual;
            }
        }
        pool = Gemm.poolFor(pool, weight, bias);
        long pixels = (long) hout * wout;
        boolean largeMap = pixels >= LARGE_MAP_PIXELS;
        boolean midMap = !largeMap && pixels >= MID_MAP_PIXELS
                && (long) n * ((hout + M - 1) / M) * ((wout + M - 1) / M) > chunkTiles;
        int blockPanels = largeMap ? LARGE_MAP_BLOCK_PANELS : midMap ? MID_MAP_BLOCK_PANELS : MAX_BLOCK_PANELS;
        int chunk = largeMap ? Math.min(chunkTiles, LARGE_MAP_CHUNK_TILES)
                : midMap ? Math.min(chunkTiles, MID_MAP_CHUNK_TILES) : chunkTiles;
        long q0 = PROFILE ? System.nanoTime() : 0;
        Plan plan = new Plan(x, weight, bias == null ? null : Gemm.toFloats(bias), res, resOff, reuse, cout, hout,
                wout, padTop, padLeft, pool, bandTiles, chunk, blockPanels, uBudget);
        Tensor result = plan.run();
        // The transformed input and weights are this call's: reused storage inside a TensorScope.
        TensorScope.release(plan.u);
        TensorScope.release(plan.v);
        if (PROFILE) {
            PHASES[4].add(System.nanoTime() - q0);
        }
        return result;
    }

    private static int roundUp(int v, int m) {
        return (v + m - 1) / m * m;
    }

    /**
     * One call's sizes, shared buffers and per-task scratch.
     *
     * <p>Schedule: the tiles are taken in bands of tile rows; per band the input is transformed once (V, all input
     * channels, by all threads), then, per group of output channels, the group's weights are transformed once into
     * U (all 36 positions, in the GEMM's packed layout; only for the first band when one group holds every output
     * channel, so the weights are transformed once per call), then tasks of (a block of at most
     * {@link #MAX_BLOCK_PANELS} panels of output channels) × (a chunk of at most {@link #CHUNK_TILES} tiles; on large
     * maps {@link #LARGE_MAP_BLOCK_PANELS} and {@link #LARGE_MAP_CHUNK_TILES}, on 64×64 maps of several chunks
     * {@link #MID_MAP_BLOCK_PANELS} and {@link #MID_MAP_CHUNK_TILES}) each run their 36 GEMMs into a small M that stays
     * in L2 and transform it straight to the output.
     */
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
        final int mPanels;
        /** Input channels of a U row, padded to whole gather groups ({@link Gemm#GATHER_K}). */
        final int cinP;
        /** Input channel blocks of the weight transform (each at most {@link Gemm#KC}, starting on a gather group). */
        final int kBlocks;
        final int kbMax;
        /** Panels of output channels per group (whose U is held at once), groups, and blocks per group. */
        final int groupPanels;
        final int groups;
        final int blocksPerGroup;
        /** Most rows of one block, and most tiles of one chunk (a multiple of NR). */
        final int cbMax;
        final int chunkMax;
        /**
         * One band of one chunk: each block's weights serve one task, which transforms them itself (a few planes at
         * a time, used while in cache) instead of into U.
         */
        final boolean fused;
        final float[] out;
        /** Where the output's elements start in {@link #out}. */
        final int outOff;
        /**
         * Transformed input of one band in the GEMM's panel order: {@code V[ξ][t / NR][ci][t % NR]}, so each B panel
         * the GEMM reads in place is one contiguous run (streamed by the prefetcher, not one page per row).
         */
        final float[] v;
        /**
         * Transformed weights of one group: {@code U[ξ][panel][ci][r]} (co = group start + panel·MR + r), the
         * packed layout of {@link Gemm}'s A with {@link #cinP} columns per panel.
         */
        final float[] u;
        final int uPlane;
        final ConcurrentLinkedQueue<float[]> bands = new ConcurrentLinkedQueue<>();
        /** Input channels transformed together into a staging buffer, then copied to V (see {@link #copyOut}). */
        final int stageChannels;
        final Tensor outTensor;

        Plan(ConvRows x, Tensor weight, float[] bias, float[] res, int resOff, Tensor reuse, int cout, int hout, int wout,
             int padTop, int padLeft, ComputePool pool, int bandTiles, int chunkTiles, int blockPanels, int uBudget) {
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
            int threads = pool.threads();
            tilesX = (wout + M - 1) / M;
            tilesY = (hout + M - 1) / M;
            int tileRows = n * tilesY;
            int maxTiles = Math.min(bandTiles, V_BUDGET / (P * cin));
            int rows = Math.max(1, Math.min(tileRows, maxTiles / tilesX));
            int nBands = (tileRows + rows - 1) / rows;
            rowsPerBand = (tileRows + nBands - 1) / nBands;
            tpMax = roundUp(rowsPerBand * tilesX, Gemm.NR);
            // Slack of one vector of tiles: a run of tiles may start at any tile (panels of NR end anywhere in a row).
            // and of two vectors: the columns of L tiles are taken from L + 2 tiles' floats (see btTiles).
            bw = roundUp((roundUp(tilesX, L) + L) * M + 2 * L, L);
            mPanels = (cout + Gemm.MR - 1) / Gemm.MR;
            cinP = roundUp(cin, GATHER_K);
            kBlocks = (cin + Gemm.KC - 1) / Gemm.KC;
            int kb = 0;
            for (int b = 0; b < kBlocks; b++) {
                kb = Math.max(kb, kStart(b + 1) - kStart(b));
            }
            kbMax = kb;
            // Chunks of the band's tiles: whole panels of NR, balanced.
            int bandPanels = tpMax / Gemm.NR;
            int maxChunkPanels = Math.max(1, chunkTiles / Gemm.NR);
            int chunks = (bandPanels + maxChunkPanels - 1) / maxChunkPanels;
            chunkMax = (bandPanels + chunks - 1) / chunks * Gemm.NR;
            fused = chunks == 1 && rowsPerBand >= tileRows;
            // Groups: as many panels as U_BUDGET holds; blocks: at most blockPanels panels, and enough tasks
            // (blocks × chunks) for every thread twice.
            int fit = fused ? mPanels : (int) Math.max(1, Math.min(mPanels, uBudget / ((long) P * cinP * Gemm.MR)));
            int ng = (mPanels + fit - 1) / fit;
            groups = ng;
            groupPanels = (mPanels + ng - 1) / ng;
            // Every block of rows reads the chunk's whole transformed input; past DEEP_V_FLOATS it no longer stays in
            // cache from one block to the next, so the blocks are made taller.
            int bp = (long) P * cin * chunkMax > DEEP_V_FLOATS ? Math.max(blockPanels, DEEP_V_BLOCK_PANELS)
                    : blockPanels;
            int nb = (groupPanels + bp - 1) / bp;
            while (nb < groupPanels && (nb * chunks < 2 * threads || nb * chunks % threads != 0)) {
                nb++;
            }
            blocksPerGroup = nb;
            cbMax = (groupPanels + nb - 1) / nb * Gemm.MR;
            uPlane = Gemm.spread(groupPanels * Gemm.MR * cinP);
            // Not zero-filled: what is never written (padding tiles, rows past cout) reaches only products not stored.
            u = fused ? null : TensorScope.scratchEmpty(Math.multiplyExact(P, uPlane) + L + VOFF);
            v = TensorScope.scratchEmpty(Math.multiplyExact(P * cin, tpMax) + L + VOFF);
            stageChannels = Math.min(cin, STAGE_CHANNELS);
            outTensor = reuse != null ? reuse : Tensor.empty(n, cout, hout, wout);
            out = outTensor.array();
            outOff = outTensor.offset();
        }

        /** First input channel of weight-transform block {@code b}: on a gather group, so blocks never overlap. */
        int kStart(int b) {
            return b >= kBlocks ? cin : (int) ((long) cin * b / kBlocks) / GATHER_K * GATHER_K;
        }

        /** First panel of block {@code b} of group {@code g}, relative to the group. */
        int blockPanel(int g, int b) {
            int panels = groupPanelsOf(g);
            return (int) ((long) panels * b / blocksPerGroup);
        }

        int groupPanelsOf(int g) {
            return Math.min(mPanels, (g + 1) * groupPanels) - g * groupPanels;
        }

        Tensor run() {
            int tileRows = n * tilesY;
            for (int r0 = 0; r0 < tileRows; r0 += rowsPerBand) {
                final int first = r0;
                final int count = Math.min(rowsPerBand, tileRows - r0);
                final int tiles = count * tilesX;
                final int tp = roundUp(tiles, Gemm.NR);
                // Several panels of tiles: each channel writes one line per position and panel, scattered over V
                // (every line a separate miss); staged, a few channels write whole runs of lines (see copyOut).
                // One panel: a channel's lines are already next to the previous channel's.
                int cs = tp > Gemm.NR ? stageChannels : 1;
                pool.parallelFor((cin + cs - 1) / cs, (from, to) -> {
                    long q0 = PROFILE ? System.nanoTime() : 0;
                    float[] buf = takeBand();
                    float[] stage = cs > 1 ? stage() : null;
                    for (int blk = from; blk < to; blk++) {
                        int c0 = blk * cs;
                        int c1 = Math.min(cin, c0 + cs);
                        for (int ci = c0; ci < c1; ci++) {
                            if (stage == null) {
                                transformChannel(ci, ci, first, count, tp, buf, v, cin);
                            } else {
                                transformChannel(ci, ci - c0, first, count, tp, buf, stage, cs);
                            }
                        }
                        if (stage != null) {
                            copyOut(c0, c1 - c0, tp, stage, cs);
                        }
                    }
                    bands.add(buf);
                    if (PROFILE) {
                        PHASES[0].add(System.nanoTime() - q0);
                    }
                });
                int bandPanels = tp / Gemm.NR;
                int chunks = (bandPanels * Gemm.NR + chunkMax - 1) / chunkMax;
                for (int g = 0; g < groups; g++) {
                    final int group = g;
                    if (!fused && (groups > 1 || r0 == 0)) {
                        pool.parallelFor(blocksPerGroup, 1, (from, to) -> {
                            long q0 = PROFILE ? System.nanoTime() : 0;
                            Scratch s = takeScratch();
                            for (int b = from; b < to; b++) {
                                transformWeights(group, b, s);
                            }
                            if (PROFILE) {
                                PHASES[1].add(System.nanoTime() - q0);
                            }
                        });
                    }
                    pool.parallelFor(blocksPerGroup * chunks, 1, (from, to) -> {
                        Scratch s = takeScratch();
                        for (int t = from; t < to; t++) {
                            int b = t / chunks;
                            int c = t - b * chunks;
                            int p0 = blockPanel(group, b);
                            int p1 = blockPanel(group, b + 1);
                            int co0 = (group * groupPanels + p0) * Gemm.MR;
                            int co1 = Math.min(cout, (group * groupPanels + p1) * Gemm.MR);
                            int t0 = (int) ((long) bandPanels * c / chunks) * Gemm.NR;
                            int t1 = (int) ((long) bandPanels * (c + 1) / chunks) * Gemm.NR;
                            if (co0 < co1 && t0 < Math.min(t1, tiles)) {
                                task(p0, co0, co1, first, t0, t1, Math.min(t1, tiles), tp, s);
                            }
                        }
                    });
                }
            }
            return outTensor;
        }

        private float[] takeBand() {
            float[] b = bands.poll();
            return b != null ? b : new float[2 * A * bw];
        }

        /** The calling thread's staging buffer for {@link #stageChannels} channels of a band. */
        private float[] stage() {
            return STAGE.get(0, P * stageChannels * tpMax + VOFF + L);
        }

        /**
         * Copies the transformed input of channels {@code [c0, c0 + count)} from a staging buffer (V's layout for
         * {@code cs} channels) into V: per position and panel of tiles one contiguous run of {@code count · NR} floats.
         */
        private void copyOut(int c0, int count, int tp, float[] stage, int cs) {
            int panels = tp / Gemm.NR;
            int run = count * Gemm.NR;
            for (int p = 0; p < P; p++) {
                int src = VOFF + p * cs * tp;
                int dst = VOFF + p * cin * tp + c0 * Gemm.NR;
                for (int q = 0; q < panels; q++, src += cs * Gemm.NR, dst += cin * Gemm.NR) {
                    System.arraycopy(stage, src, v, dst, run);
                }
            }
        }

        private Scratch takeScratch() {
            return Scratch.forPlan(this);
        }

        /**
         * Transforms channel {@code ci} of the band's tile rows {@code first …} into {@code out}, laid out as V for
         * {@code chans} channels with this one at {@code slot} (V itself: {@code cin}, {@code ci}). Consecutive tile
         * rows of an image share two input rows, which are kept rather than read again: a fused producer (GroupNorm +
         * SiLU, upsampling) makes each row about once, not 1.5 times.
         */
        private void transformChannel(int ci, int slot, int first, int count, int tp, float[] buf, float[] out,
                                      int chans) {
            // buf: six zero-bordered input rows d[0..5] (columns outside [padLeft, padLeft + w) stay 0), then t.
            java.util.Arrays.fill(buf, 0, A * bw, 0f);
            int prevImg = -1;
            int prevTy = -2;
            for (int rr = 0; rr < count; rr++) {
                int r = first + rr;
                int img = r / tilesY;
                int ty = r - img * tilesY;
                int y0 = ty * M - padTop;
                int from = 0;
                if (img == prevImg && ty == prevTy + 1) {
                    // Rows 4 and 5 of the previous tile row are rows 0 and 1 of this one.
                    System.arraycopy(buf, M * bw, buf, 0, (A - M) * bw);
                    from = A - M;
                }
                for (int i = from; i < A; i++) {
                    int y = y0 + i;
                    if (y >= 0 && y < h) {
                        x.row(img, ci, y, buf, i * bw + padLeft);
                    } else {
                        java.util.Arrays.fill(buf, i * bw, (i + 1) * bw, 0f);
                    }
                }
                prevImg = img;
                prevTy = ty;
                transformInput(slot, rr, tp, buf, out, chans);
            }
        }

        /**
         * Bᵀ d B of one channel's tiles in band tile row {@code rr}, from its six input rows in buf, into {@code out}
         * at channel {@code slot} of {@code chans} (V's layout).
         */
        private void transformInput(int slot, int rr, int tp, float[] buf, float[] out, int chans) {
            // Bᵀd row-wise into t[0..5] (vectors along x).
            int t = A * bw;
            for (int b = 0; b < bw; b += L) {
                bt(buf, b, bw, buf, t + b, bw, L);
            }
            // Column-wise (·B) over L tiles at once: tile tx's column c is t[i][4·tx + c] (see btTiles).
            int plane = chans * tp;
            for (int tx0 = 0, lanes; tx0 < tilesX; tx0 += lanes) {
                // A run of tiles within one panel of NR.
                int tile = rr * tilesX + tx0;
                int col = tile % Gemm.NR;
                lanes = Math.min(Math.min(L, tilesX - tx0), Gemm.NR - col);
                int dst = VOFF + (tile - col) * chans + slot * Gemm.NR + col;
                for (int i = 0; i < A; i++) {
                    btTiles(buf, t + i * bw + tx0 * M, out, dst + i * A * plane, plane, lanes);
                }
            }
        }

        /**
         * Output channels {@code [co0, co1)} (panel {@code p0} of the group's U) of the band's tiles {@code [t0, t1)}
         * ({@code tEnd} the last real one): the 36 GEMMs {@code M[ξ] = U[ξ]·V[ξ]} over all input channels, then
         * the output transform.
         */
        private void task(int p0, int co0, int co1, int first, int t0, int t1, int tEnd, int tp, Scratch s) {
            long q0 = PROFILE ? System.nanoTime() : 0;
            int cb = co1 - co0;
            int nc = t1 - t0;
            // Row stride of M: one vector more than the chunk, so that rows do not fall on the same L1 sets.
            int ldm = nc + L;
            long weightNanos = 0;
            if (fused) {
                // The weights serve this task only: per input channel block, each group of rows of the transformed
                // planes (six or twelve) is made just before its GEMMs, while it is in cache.
                for (int kb = 0; kb < kBlocks; kb++) {
                    int ci0 = kStart(kb);
                    int kc = kStart(kb + 1) - ci0;
                    int ldk = roundUp(kc, GATHER_K);
                    int plane = roundUp(cb, Gemm.MR) * ldk;
                    int stride = Gemm.spread(plane);
                    long w0 = PROFILE ? System.nanoTime() : 0;
                    deinterleave(co0, cb, ci0, kc, ldk, stride, s);
                    for (int grp = 0; grp < ROW_FIRST.length; grp++) {
                        if (PROFILE && grp > 0) {
                            w0 = System.nanoTime();
                        }
                        transformWeightRows(grp, plane, stride, ldk, s.gt, s.u, VOFF, ldk, stride);
                        if (PROFILE) {
                            weightNanos += System.nanoTime() - w0;
                        }
                        for (int q = 0; q < ROW_COUNT[grp] * A; q++) {
                            int p = ROW_FIRST[grp] * A + q;
                            product(cb, nc, kc, s.u, VOFF + q * stride, ldk, v,
                                    VOFF + p * cin * tp + t0 * cin + ci0 * Gemm.NR, cin * Gemm.NR, s.m,
                                    VOFF + p * cb * ldm, ldm, kb > 0, s.tile);
                        }
                    }
                }
            }
            int kBlocksGemm = Gemm.kBlocks(cin);
            for (int p = 0; p < P && !fused; p++) {
                for (int kb = 0; kb < kBlocksGemm; kb++) {
                    int pc = Gemm.kStart(cin, kBlocksGemm, kb);
                    int kc = Gemm.kStart(cin, kBlocksGemm, kb + 1) - pc;
                    product(cb, nc, kc, u, VOFF + p * uPlane + p0 * Gemm.MR * cinP + pc * Gemm.MR, cinP, v,
                            VOFF + p * cin * tp + t0 * cin + pc * Gemm.NR, cin * Gemm.NR, s.m, VOFF + p * cb * ldm, ldm,
                            kb > 0, s.tile);
                }
            }
            long q1 = PROFILE ? System.nanoTime() : 0;
            if (PROFILE) {
                PHASES[1].add(weightNanos);
                PHASES[2].add(q1 - q0 - weightNanos);
            }
            transformOutput(co0, cb, first, t0, tEnd, ldm, s);
            if (PROFILE) {
                PHASES[3].add(System.nanoTime() - q1);
            }
        }

        /**
         * Transforms the weights of block {@code b} of group {@code g} into U, one input channel block at a time: the
         * kernels de-interleaved, then for each row i of the 6×6 transformed tile its six planes.
         */
        private void transformWeights(int g, int b, Scratch s) {
            int p0 = blockPanel(g, b);
            int p1 = blockPanel(g, b + 1);
            int co0 = (g * groupPanels + p0) * Gemm.MR;
            int co1 = Math.min(cout, (g * groupPanels + p1) * Gemm.MR);
            if (co0 >= co1) {
                return;
            }
            int cb = co1 - co0;
            // In order: a block's padding columns (past kc, up to a gather group) are overwritten by the next block.
            for (int kb = 0; kb < kBlocks; kb++) {
                int ci0 = kStart(kb);
                int kc = kStart(kb + 1) - ci0;
                int ldk = roundUp(kc, GATHER_K);
                int plane = roundUp(cb, Gemm.MR) * ldk;
                int stride = Gemm.spread(plane);
                deinterleave(co0, cb, ci0, kc, ldk, stride, s);
                for (int grp = 0; grp < ROW_FIRST.length; grp++) {
                    transformWeightRows(grp, plane, stride, ldk, s.gt, u,
                            VOFF + ROW_FIRST[grp] * A * uPlane + p0 * Gemm.MR * cinP + ci0 * Gemm.MR, cinP,
                            uPlane);
                }
            }
        }

        /**
         * The block's {@code [co][ci][3][3]} kernels as nine planes {@code gt[tap]} ({@code stride} floats apart, from
         * {@link #VOFF}), each laid out as {@link Gemm} packs A (panels of {@link Gemm#MR} rows, {@code ldk} columns
         * each, k-major), rows past {@code cb} zero: the transform is element-wise, so the transformed planes come out
         * packed too.
         */
        private void deinterleave(int co0, int cb, int ci0, int kc, int ldk, int stride, Scratch s) {
            float[] g = s.g;
            float[] gt = s.gt;
            int rowLen = kc * 9;
            int panels = (cb + Gemm.MR - 1) / Gemm.MR;
            for (int r = 0; r < cb; r++) {
                weightRun(weight, ((long) (co0 + r) * cin + ci0) * 9, g, r * rowLen, rowLen);
            }
            java.util.Arrays.fill(g, cb * rowLen, panels * Gemm.MR * rowLen, 0f);
            int[] map = tapMap(rowLen);
            // The nine taps of a group of columns one after the other: the gathers of all nine read the same 12
            // short runs of g, fetched into L1 once. Tap by tap over the whole panel, each tap fetched them again from
            // L2: the whole de-interleave 9.5 instead of 7.1 ms a call at 1280 channels, 16x16, one thread.
            for (int p = 0; p < panels; p++) {
                gatherTaps(g, p * Gemm.MR * rowLen, map, ldk, gt, VOFF + p * Gemm.MR * ldk, stride);
            }
        }

        /**
         * {@code U[6i + j] = (G g Gᵀ)[i][j]} for the rows i of row group {@code group} ({@link #ROW_FIRST},
         * {@link #ROW_COUNT}), vectorised along input channels. The de-interleaved planes ({@code g[r][c]} at plane
         * {@code 3r + c}, {@code stride} floats apart from {@link #VOFF}) hold {@code plane} floats each, panels of
         * {@code MR × ldk}; each goes to {@code u[uOff + panel·MR·uRow …]}, position
         * {@code (i - first)·6 + j} that many times {@code up} further. Rows 1 and 2 (and 3 and 4) share their sums,
         * {@code G[1,2]·g = -(g0 + g2 ± g1) / 6}, {@code G[3,4]·g = (g0 + 4 g2 ± 2 g1) / 24}, and the row factor
         * rides in the column stage's constants: 24 loads and about 95 operations per vector for all 36 positions,
         * where one row at a time took 54 and about 150.
         */
        private static void transformWeightRows(int group, int plane, int stride, int ldk, float[] gt, float[] u,
                                                int uOff, int uRow, int up) {
            int panelLen = Gemm.MR * ldk;
            for (int p = 0; p * panelLen < plane; p++) {
                int src = VOFF + p * panelLen;
                int dst = uOff + p * Gemm.MR * uRow;
                switch (group) {
                    case 0 -> weightRowOne(gt, src, stride, 0.25f, panelLen, u, dst, up);
                    case 1 -> weightRowPair(gt, src, stride, 1f, 1f, -1f / 6, panelLen, u, dst, up);
                    case 2 -> weightRowPair(gt, src, stride, 4f, 2f, 1f / 24, panelLen, u, dst, up);
                    default -> weightRowOne(gt, src + 6 * stride, stride, 1f, panelLen, u, dst, up);
                }
            }
        }

        /** Row 0 ({@code t_c = g[0][c] / 4}, from src) or 5 ({@code t_c = g[2][c]}, src at plane 6). */
        private static void weightRowOne(float[] gt, int src, int plane, float s, int len, float[] u, int dst, int up) {
            for (int e = 0; e < len; e += L) {
                int o = src + e;
                weightColumns(FloatVector.fromArray(S, gt, o), FloatVector.fromArray(S, gt, o + plane),
                        FloatVector.fromArray(S, gt, o + 2 * plane), s, u, dst + e, up);
            }
        }

        /**
         * Rows 1 and 2 ({@code a = 1, b = 1, s = -1/6}) or 3 and 4 ({@code a = 4, b = 2, s = 1/24}):
         * {@code t_c = s · (g[0][c] + a·g[2][c] ± b·g[1][c])}, the second row six positions after the first.
         */
        private static void weightRowPair(float[] gt, int src, int plane, float a, float b, float s, int len,
                                          float[] u, int dst, int up) {
            FloatVector va = FloatVector.broadcast(S, a);
            for (int e = 0; e < len; e += L) {
                int o = src + e;
                FloatVector w0 = FloatVector.fromArray(S, gt, o + 6 * plane).fma(va, FloatVector.fromArray(S, gt, o));
                FloatVector w1 = FloatVector.fromArray(S, gt, o + 7 * plane)
                        .fma(va, FloatVector.fromArray(S, gt, o + plane));
                FloatVector w2 = FloatVector.fromArray(S, gt, o + 8 * plane)
                        .fma(va, FloatVector.fromArray(S, gt, o + 2 * plane));
                FloatVector m0 = FloatVector.fromArray(S, gt, o + 3 * plane).mul(b);
                FloatVector m1 = FloatVector.fromArray(S, gt, o + 4 * plane).mul(b);
                FloatVector m2 = FloatVector.fromArray(S, gt, o + 5 * plane).mul(b);
                weightColumns(w0.add(m0), w1.add(m1), w2.add(m2), s, u, dst + e, up);
                weightColumns(w0.sub(m0), w1.sub(m1), w2.sub(m2), s, u, dst + e + A * up, up);
            }
        }

        /**
         * The column stage of one row, {@code U[j] = s · G[j]·t} for its six positions j: {@code t0/4},
         * {@code -(t0 + t2 ± t1)/6}, {@code (t0 + 4 t2 ± 2 t1)/24}, {@code t2}. Small enough for C2 to inline (a
         * vector crossing a call that is not inlined is boxed).
         */
        private static void weightColumns(FloatVector t0, FloatVector t1, FloatVector t2, float s, float[] u, int d,
                                          int up) {
            FloatVector sum = t0.add(t2);
            FloatVector w = t2.fma(FloatVector.broadcast(S, 4f), t0);
            float s6 = -s / 6;
            float s24 = s / 24;
            t0.mul(s / 4).intoArray(u, d);
            sum.add(t1).mul(s6).intoArray(u, d + up);
            sum.sub(t1).mul(s6).intoArray(u, d + 2 * up);
            t1.fma(FloatVector.broadcast(S, 2f), w).mul(s24).intoArray(u, d + 3 * up);
            t1.fma(FloatVector.broadcast(S, -2f), w).mul(s24).intoArray(u, d + 4 * up);
            t2.mul(s).intoArray(u, d + 5 * up);
        }

        /**
         * {@code out = Aᵀ M A + bias (+ residual)} for the block's channels and the band's tiles {@code [t0, tEnd)}
         * (M column {@code t - t0}).
         */
        private void transformOutput(int co0, int cb, int first, int t0, int tEnd, int ldm, Scratch s) {
            float[] m = s.m;
            float[] ss = s.ts;
            float[] ys = s.ys;
            int plane = cb * ldm;
            int rr0 = t0 / tilesX;
            int rr1 = (tEnd - 1) / tilesX;
            for (int r = 0; r < cb; r++) {
                int co = co0 + r;
                float b = bias == null ? 0f : bias[co];
                for (int rr = rr0; rr <= rr1; rr++) {
                    int row = first + rr;
                    int img = row / tilesY;
                    int ty = row - img * tilesY;
                    int chan = (img * cout + co) * hout;
                    int txStart = Math.max(0, t0 - rr * tilesX);
                    int txEnd = Math.min(tilesX, tEnd - rr * tilesX);
                    for (int tx0 = txStart; tx0 < txEnd; tx0 += L) {
                        int mi = VOFF + r * ldm + rr * tilesX + tx0 - t0;
                        // Aᵀ·M column by column into ss[i][c] (i < 4), then each row i by ·A into ys[j].
                        for (int c = 0; c < A; c++) {
                            at(m, mi + c * plane, A * plane, ss, c * L, A * L);
                        }
                        // Columns left in the row and in the chunk.
                        int left = Math.min(wout - tx0 * M, (txEnd - tx0) * M);
                        for (int i = 0; i < M && ty * M + i < hout; i++) {
                            at(ss, i * A * L, L, ys, 0, L);
                            storeRow(ys, b, (chan + ty * M + i) * wout + tx0 * M, left);
                        }
                    }
                }
            }
        }

        /**
         * One output row of L tiles: {@code ys[j·L + a]} is column j of tile a, interleaved by shuffles into 4L
         * consecutive floats {@code out[base …]} (plus b and the residual), the first {@code left} of them.
         */
        private void storeRow(float[] ys, float b, int base, int left) {
            FloatVector y0 = FloatVector.fromArray(S, ys, 0);
            FloatVector y1 = FloatVector.fromArray(S, ys, L);
            FloatVector y2 = FloatVector.fromArray(S, ys, 2 * L);
            FloatVector y3 = FloatVector.fromArray(S, ys, 3 * L);
            FloatVector p0 = y0.rearrange(ZIP_LO, y1);
            FloatVector p1 = y0.rearrange(ZIP_HI, y1);
            FloatVector q0 = y2.rearrange(ZIP_LO, y3);
            FloatVector q1 = y2.rearrange(ZIP_HI, y3);
            // Through ys[4L, 8L) rather than as arguments: transformOutput is too big for C2 to inline storeOut
            // into (NodeCountInliningCutoff), and a vector handed to a call that is not inlined is boxed, which
            // also made the two-vector rearranges above fall back to Java loops (JFR: 1 GB of garbage per step).
            p0.rearrange(PAIR_LO, q0).intoArray(ys, 4 * L);
            p0.rearrange(PAIR_HI, q0).intoArray(ys, 5 * L);
            p1.rearrange(PAIR_LO, q1).intoArray(ys, 6 * L);
            p1.rearrange(PAIR_HI, q1).intoArray(ys, 7 * L);
            for (int j = 0; j < 4; j++) {
                storeOut(ys, (4 + j) * L, b, base + j * L, left - j * L);
            }
        }

        /** {@code out[base …] = ys[from …] + b (+ residual)}, the first {@code left} lanes. */
        private void storeOut(float[] ys, int from, float b, int base, int left) {
            if (left <= 0) {
                return;
            }
            FloatVector y = FloatVector.fromArray(S, ys, from).add(b);
            if (left >= L) {
                if (res != null) {
                    y = y.add(FloatVector.fromArray(S, res, resOff + base));
                }
                y.intoArray(out, outOff + base);
            } else {
                VectorMask<Float> mask = S.indexInRange(0, left);
                if (res != null) {
                    y = y.add(FloatVector.fromArray(S, res, resOff + base, mask));
                }
                y.intoArray(out, outOff + base, mask);
            }
        }

    }

    /**
     * Per-thread buffers: the converted and the de-interleaved kernels of a block, its 36 GEMM outputs, stage buffers.
     * Kept by each thread across calls (a thread runs one task at a time) and fitted to each call's plan, zero-filled
     * as new arrays would be: a U-Net step makes about 45 calls, each of which would otherwise allocate ~5 MB per
     * thread.
     */
    private static final class Scratch {
        private static final ThreadLocal<Scratch> OF_THREAD = ThreadLocal.withInitial(Scratch::new);

        float[] g = new float[0];
        float[] gt = new float[0];
        float[] u;
        float[] m = new float[0];
        final float[] ts = new float[A * A * L];
        final float[] ys = new float[2 * M * L];
        /** One register tile of M for a last partial panel of rows. */
        final float[] tile = new float[Gemm.MR * Gemm.NR];
        private float[] uStore = new float[0];

        /**
         * With {@code d4j.tensor.poisonEmpty} (the tests), the buffers are filled with NaN before every use: nothing
         * may depend on what a buffer held before.
         */
        private static final boolean POISON = Boolean.getBoolean("d4j.tensor.poisonEmpty");

        /**
         * The calling thread's buffers, large enough for {@code plan}. Not cleared: every part a call reads it has
         * written first (padding columns and rows are never part of a product that is stored), and clearing M alone
         * was 3 MB per task on large maps.
         */
        static Scratch forPlan(Plan plan) {
            Scratch s = OF_THREAD.get();
            int plane = Gemm.spread(plan.cbMax * roundUp(plan.kbMax, GATHER_K));
            // Slack: the gathers of the padding columns of the last panel read up to a group past its rows.
            s.g = fit(s.g, (plan.cbMax * plan.kbMax + GATHER_K * Gemm.MR) * 9);
            s.gt = fit(s.gt, 9 * plane + VOFF);
            s.uStore = plan.fused ? fit(s.uStore, 2 * A * plane + VOFF) : s.uStore;
            s.u = plan.fused ? s.uStore : null;
            s.m = fit(s.m, P * plan.cbMax * (plan.chunkMax + L) + L + VOFF);
            return s;
        }

        private static float[] fit(float[] a, int n) {
            if (a.length < n) {
                a = new float[n];
            }
            if (POISON) {
                java.util.Arrays.fill(a, 0, n, Float.NaN);
            }
            return a;
        }
    }

    /**
     * {@code len} consecutive elements of a weight from element {@code src} into {@code dst[d…]} as float32: copied
     * from a heap array, converted from F16/BF16/Q8_0 memory.
     */
    static void weightRun(Tensor weight, long src, float[] dst, int d, int len) {
        if (weight.isHeap()) {
            System.arraycopy(weight.array(), weight.offset() + (int) src, dst, d, len);
        } else {
            HalfFloats.toFloats(weight.segment(), weight.dtype(), src, dst, d, len);
        }
    }

    /**
     * Gather indices of {@link #gatherTaps} for rows of {@code rowLen} floats ({@code [ci][3][3]} kernels): every
     * {@link Gemm#GATHER_K} columns of a panel are {@link Gemm#GATHER_VECTORS} whole vectors, element e of such a
     * group row {@code e % MR}, column {@code e / MR} of the panel.
     */
    static int[] tapMap(int rowLen) {
        int[] map = new int[GATHER_K * Gemm.MR];
        for (int e = 0; e < map.length; e++) {
            map[e] = (e % Gemm.MR) * rowLen + (e / Gemm.MR) * 9;
        }
        return map;
    }

    /**
     * One panel of a de-interleave (here and in {@link WinogradF2}): its nine taps from {@code g[src…]} into the
     * planes at {@code gt[dst…]}. A method of its own so that C2 always compiles the gathers as gathers (in a larger
     * method it sometimes called their Java implementation, which boxes the index vectors).
     */
    static void gatherTaps(float[] g, int src, int[] map, int ldk, float[] gt, int dst, int stride) {
        // Columns past kc read the next row's (or the slack's) floats into the padding: never used.
        for (int k = 0; k < ldk; k += GATHER_K) {
            for (int tap = 0; tap < 9; tap++) {
                for (int vv = 0; vv < GATHER_VECTORS; vv++) {
                    FloatVector.fromArray(S, g, src + k * 9 + tap, map, vv * L)
                            .intoArray(gt, dst + tap * stride + k * Gemm.MR + vv * L);
                }
            }
        }
    }

    /**
     * One position's product {@code M (+)= U·V}, {@code cb × nc} over depth {@code kc}, straight on {@link Gemm}'s
     * micro-kernel with both operands read in place (no driver, no copy of U: 36 small products per task): U's panel
     * q at {@code a[aOff + q·MR·ldk]} in the packed A layout ({@code k·MR + r}), V's panel of tiles {@code j / NR}
     * at {@code b[bOff + (j / NR)·bPanel]} in the packed B layout; M's row i at {@code m[mOff + i·ldm]}. nc is a
     * multiple of NR; the rows of a last partial panel go through {@code tile}. Column panel by column panel, its V
     * in L1 over the task's few row panels.
     */
    static void product(int cb, int nc, int kc, float[] a, int aOff, int ldk, float[] b, int bOff, int bPanel,
                        float[] m, int mOff, int ldm, boolean add, float[] tile) {
        for (int jr = 0; jr < nc; jr += Gemm.NR) {
            int bi = bOff + jr / Gemm.NR * bPanel;
            for (int ir = 0; ir < cb; ir += Gemm.MR) {
                int ai = aOff + ir * ldk;
                int ci = mOff + ir * ldm + jr;
                if (ir + Gemm.MR <= cb) {
                    Gemm.kernel(kc, a, ai, b, bi, m, ci, ldm, add);
                    continue;
                }
                Gemm.kernel(kc, a, ai, b, bi, tile, 0, Gemm.NR, false);
                Gemm.storeTile(tile, cb - ir, Gemm.NR, m, ci, ldm, add);
            }
        }
    }

    // The transforms load and store their own vectors, written out in each method: a vector passed to or returned
    // from a call that C2 does not inline (these methods are big) is boxed, which costs more than the arithmetic.

    /**
     * {@code Bᵀ·d} of F(4,3) for six vectors {@code d_c} at {@code src[off + c·step]}: six out, at
     * {@code dst[doff + i·dstride]}, the first {@code lanes} lanes.
     */
    private static void bt(float[] src, int off, int step, float[] dst, int doff, int dstride, int lanes) {
        FloatVector d0 = FloatVector.fromArray(S, src, off);
        FloatVector d1 = FloatVector.fromArray(S, src, off + step);
        FloatVector d2 = FloatVector.fromArray(S, src, off + 2 * step);
        FloatVector d3 = FloatVector.fromArray(S, src, off + 3 * step);
        FloatVector d4 = FloatVector.fromArray(S, src, off + 4 * step);
        FloatVector d5 = FloatVector.fromArray(S, src, off + 5 * step);
        FloatVector four = FloatVector.broadcast(S, 4f);
        FloatVector five = FloatVector.broadcast(S, -5f);
        FloatVector two = FloatVector.broadcast(S, 2f);
        FloatVector e = d4.sub(d2);
        VectorMask<Float> m = S.indexInRange(0, lanes);
        d2.fma(five, d4).add(d0.mul(four)).intoArray(dst, doff, m);
        d1.add(d2).fma(four.neg(), d3.add(d4)).intoArray(dst, doff + dstride, m);
        d1.sub(d2).fma(four, d4.sub(d3)).intoArray(dst, doff + 2 * dstride, m);
        d3.sub(d1).fma(two, e).intoArray(dst, doff + 3 * dstride, m);
        d1.sub(d3).fma(two, e).intoArray(dst, doff + 4 * dstride, m);
        d3.fma(five, d5).add(d1.mul(four)).intoArray(dst, doff + 5 * dstride, m);
    }

    /**
     * {@code ·B} of F(4,3) along x for L tiles: column c of tile {@code a} is {@code src[off + 4a + c]} (c < 6), taken
     * apart by shuffles of the contiguous floats; six vectors out at {@code dst[doff + j·dstride]}, the first
     * {@code lanes} lanes. Reads {@code src[off … off + 5L]}.
     */
    private static void btTiles(float[] src, int off, float[] dst, int doff, int dstride, int lanes) {
        FloatVector r0 = FloatVector.fromArray(S, src, off);
        FloatVector r1 = FloatVector.fromArray(S, src, off + L);
        FloatVector r2 = FloatVector.fromArray(S, src, off + 2 * L);
        FloatVector r3 = FloatVector.fromArray(S, src, off + 3 * L);
        FloatVector r4 = FloatVector.fromArray(S, src, off + 4 * L);
        // Columns 0|1 and 2|3 of tiles 0…L/2-1 (from r0 r1) and L/2…L-1 (from r2 r3), then whole columns.
        FloatVector c01a = r0.rearrange(COLS_LO, r1);
        FloatVector c23a = r0.rearrange(COLS_HI, r1);
        FloatVector c01b = r2.rearrange(COLS_LO, r3);
        FloatVector c23b = r2.rearrange(COLS_HI, r3);
        FloatVector d0 = c01a.rearrange(HALF_LO, c01b);
        FloatVector d1 = c01a.rearrange(HALF_HI, c01b);
        FloatVector d2 = c23a.rearrange(HALF_LO, c23b);
        FloatVector d3 = c23a.rearrange(HALF_HI, c23b);
        // Columns 4 and 5 are columns 0 and 1 of the next tile: one lane on, the last from the next floats.
        FloatVector d4 = d0.rearrange(NEXT, r4);
        FloatVector d5 = d1.rearrange(NEXT, FloatVector.fromArray(S, src, off + 4 * L + 1));
        FloatVector four = FloatVector.broadcast(S, 4f);
        FloatVector five = FloatVector.broadcast(S, -5f);
        FloatVector two = FloatVector.broadcast(S, 2f);
        FloatVector e = d4.sub(d2);
        VectorMask<Float> m = S.indexInRange(0, lanes);
        d2.fma(five, d4).add(d0.mul(four)).intoArray(dst, doff, m);
        d1.add(d2).fma(four.neg(), d3.add(d4)).intoArray(dst, doff + dstride, m);
        d1.sub(d2).fma(four, d4.sub(d3)).intoArray(dst, doff + 2 * dstride, m);
        d3.sub(d1).fma(two, e).intoArray(dst, doff + 3 * dstride, m);
        d1.sub(d3).fma(two, e).intoArray(dst, doff + 4 * dstride, m);
        d3.fma(five, d5).add(d1.mul(four)).intoArray(dst, doff + 5 * dstride, m);
    }

    /** {@code Aᵀ·m} of F(4,3) for six vectors at {@code src[off + r·step]}: four out, at {@code dst[doff + i·dstride]}. */
    private static void at(float[] src, int off, int step, float[] dst, int doff, int dstride) {
        FloatVector m0 = FloatVector.fromArray(S, src, off);
        FloatVector m1 = FloatVector.fromArray(S, src, off + step);
        FloatVector m2 = FloatVector.fromArray(S, src, off + 2 * step);
        FloatVector m3 = FloatVector.fromArray(S, src, off + 3 * step);
        FloatVector m4 = FloatVector.fromArray(S, src, off + 4 * step);
        FloatVector m5 = FloatVector.fromArray(S, src, off + 5 * step);
        FloatVector a = m1.add(m2);
        FloatVector b = m1.sub(m2);
        FloatVector c = m3.add(m4);
        FloatVector d = m3.sub(m4);
        m0.add(a).add(c).intoArray(dst, doff);
        d.fma(FloatVector.broadcast(S, 2f), b).intoArray(dst, doff + dstride);
        c.fma(FloatVector.broadcast(S, 4f), a).intoArray(dst, doff + 2 * dstride);
        d.fma(FloatVector.broadcast(S, 8f), b).add(m5).intoArray(dst, doff + 3 * dstride);
    }
}
