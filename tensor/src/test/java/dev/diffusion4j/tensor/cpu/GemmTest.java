package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.HalfFloats;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class GemmTest {
    private static final ComputePool POOL1 = new ComputePool(1);
    private static final ComputePool POOL2 = new ComputePool(2);

    @AfterAll
    static void closePools() {
        POOL1.close();
        POOL2.close();
    }

    static float[] random(Random rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = rnd.nextFloat() * 2f - 1f;
        }
        return a;
    }

    /** Element (r, c) of a row-major rows×cols matrix read transposed or not. */
    static double at(float[] x, int off, int ld, boolean t, int r, int c) {
        return t ? x[off + c * ld + r] : x[off + r * ld + c];
    }

    /** Asserts |got - want| <= 1e-5·sqrt(k)·max(1, max|want|) elementwise ({@code scale} multiplies the bound). */
    static void assertClose(double[] want, float[] got, int k, double scale, String what) {
        assertEquals(want.length, got.length, what + ": length");
        double max = 1;
        for (double w : want) {
            max = Math.max(max, Math.abs(w));
        }
        double tol = 1e-5 * Math.sqrt(Math.max(1, k)) * max * scale;
        for (int i = 0; i < want.length; i++) {
            double d = Math.abs(want[i] - got[i]);
            if (!(d <= tol)) {
                throw new AssertionError(what + ": element " + i + " want " + want[i] + " got " + got[i]
                        + " (|diff| " + d + " > tol " + tol + ")");
            }
        }
    }

    static double[] refMatmul(float[] a, boolean ta, float[] b, boolean tb, int m, int k, int n) {
        double[] c = new double[m * n];
        int lda = ta ? m : k;
        int ldb = tb ? k : n;
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    s += at(a, 0, lda, ta, i, p) * at(b, 0, ldb, tb, p, j);
                }
                c[i * n + j] = s;
            }
        }
        return c;
    }

    @ParameterizedTest(name = "m={0} k={1} n={2}")
    @CsvSource({"1,1,1", "1,0,1", "3,0,5", "2,3,4", "12,16,32", "13,17,33", "11,31,31", "25,100,65",
            "77,96,130", "200,300,47", "64,257,96", "193,513,1025", "5,700,3", "1,1000,1", "40,1,40",
            "30,1155,40", "30,641,40"})
    void matmulMatchesReferenceAllTransposes(int m, int k, int n) {
        long seed = 1000L * m + 31L * k + n;
        Random rnd = new Random(seed);
        for (int variant = 0; variant < 4; variant++) {
            boolean ta = (variant & 1) != 0;
            boolean tb = (variant & 2) != 0;
            float[] a = random(rnd, m * k);
            float[] b = random(rnd, k * n);
            Tensor at = ta ? Tensor.of(a, k, m) : Tensor.of(a, m, k);
            Tensor bt = tb ? Tensor.of(b, n, k) : Tensor.of(b, k, n);
            double[] want = refMatmul(a, ta, b, tb, m, k, n);
            for (ComputePool pool : new ComputePool[] {POOL1, POOL2}) {
                Tensor c = Gemm.matmul(pool, at, ta, bt, tb);
                assertEquals(Shape.of(m, n), c.shape());
                assertClose(want, c.toFloatArray(), k, 1, "seed " + seed + " ta=" + ta + " tb=" + tb
                        + " threads=" + pool.threads());
            }
        }
    }

    /**
     * K blocks cover the depth without gaps or overlaps, start on even steps (the micro-kernels' two-step loop, see
     * {@link Gemm#kStart}), are at most one step deeper than the depth over the block count rounded up, and the
     * deepest is what {@link Gemm#maxBlockDepth} (the packing buffers' size) says.
     */
    @ParameterizedTest(name = "k={0}")
    @CsvSource({"1", "2", "320", "321", "640", "641", "768", "1155", "1280", "1920", "2559", "2880", "11520"})
    void kBlocksStartEvenAndCoverTheDepth(int k) {
        int blocks = Gemm.kBlocks(k);
        int mean = (k + blocks - 1) / blocks;
        int deepest = 0;
        assertEquals(0, Gemm.kStart(k, blocks, 0));
        assertEquals(k, Gemm.kStart(k, blocks, blocks));
        for (int b = 0; b < blocks; b++) {
            int start = Gemm.kStart(k, blocks, b);
            int depth = Gemm.kStart(k, blocks, b + 1) - start;
            assertEquals(0, start % 2, "block " + b + " of k=" + k + " starts at " + start);
            assertTrue(depth > 0 && depth <= (blocks > 1 ? mean + 1 : k), "block " + b + " of k=" + k + ": " + depth);
            assertTrue(b == blocks - 1 || depth % 2 == 0, "inner block " + b + " of k=" + k + " has odd depth " + depth);
            deepest = Math.max(deepest, depth);
        }
        assertEquals(deepest, Gemm.maxBlockDepth(k, blocks), "deepest block of k=" + k);
    }

    /** Outputs start uninitialised (NaN in tests): an empty inner dimension must still give zeros, or the bias. */
    @Test
    void emptyInnerDimensionGivesZerosOrBias() {
        Tensor c = Gemm.matmul(POOL2, Tensor.of(new float[0], 3, 0), false, Tensor.of(new float[0], 0, 4), false);
        assertEquals(Shape.of(3, 4), c.shape());
        assertArrayEquals(new float[12], c.toFloatArray());
        Tensor x = Tensor.of(new float[0], 2, 0);
        Tensor w = Tensor.of(new float[0], 3, 0);
        Tensor bias = Tensor.of(new float[] {1f, 2f, 3f}, 3);
        assertArrayEquals(new float[] {1f, 2f, 3f, 1f, 2f, 3f}, Gemm.linear(POOL2, x, w, bias).toFloatArray());
        assertArrayEquals(new float[6], Gemm.linear(POOL2, x, w, null).toFloatArray());
        assertArrayEquals(new float[] {1f, 2f, 3f, 1f, 2f, 3f},
                FusedLinear.linear(POOL2, x, w, bias, null).toFloatArray());
        assertArrayEquals(new float[6], FusedLinear.linear(POOL2, x, w, null, null).toFloatArray());
    }

    @Test
    void batchedMatmulEqualBatchAndSharedB() {
        long seed = 42;
        Random rnd = new Random(seed);
        int batch = 3;
        int m = 19;
        int k = 37;
        int n = 45;
        for (int variant = 0; variant < 4; variant++) {
            boolean ta = (variant & 1) != 0;
            boolean tb = (variant & 2) != 0;
            float[] a = random(rnd, batch * m * k);
            float[] b = random(rnd, batch * k * n);
            Tensor at = ta ? Tensor.of(a, batch, k, m) : Tensor.of(a, batch, m, k);
            Tensor bt = tb ? Tensor.of(b, batch, n, k) : Tensor.of(b, batch, k, n);
            Tensor c = Gemm.matmul(POOL2, at, ta, bt, tb);
            assertEquals(Shape.of(batch, m, n), c.shape());
            Tensor b2 = tb ? Tensor.of(java.util.Arrays.copyOf(b, k * n), n, k) : Tensor.of(java.util.Arrays.copyOf(b, k * n), k, n);
            Tensor c2 = Gemm.matmul(POOL2, at, ta, b2, tb);
            assertEquals(Shape.of(batch, m, n), c2.shape());
            float[] cf = c.toFloatArray();
            float[] c2f = c2.toFloatArray();
            for (int bi = 0; bi < batch; bi++) {
                float[] ab = java.util.Arrays.copyOfRange(a, bi * m * k, (bi + 1) * m * k);
                float[] bb = java.util.Arrays.copyOfRange(b, bi * k * n, (bi + 1) * k * n);
                double[] want = refMatmul(ab, ta, bb, tb, m, k, n);
                assertClose(want, java.util.Arrays.copyOfRange(cf, bi * m * n, (bi + 1) * m * n), k, 1,
                        "seed " + seed + " batch " + bi + " ta=" + ta + " tb=" + tb);
                double[] want2 = refMatmul(ab, ta, java.util.Arrays.copyOf(b, k * n), tb, m, k, n);
                assertClose(want2, java.util.Arrays.copyOfRange(c2f, bi * m * n, (bi + 1) * m * n), k, 1,
                        "seed " + seed + " shared B, batch " + bi + " ta=" + ta + " tb=" + tb);
            }
        }
    }

    static Tensor segment(Arena arena, float[] values, DType dtype, int... dims) {
        MemorySegment seg = arena.allocate((long) values.length * dtype.byteSize());
        ValueLayout.OfShort s16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        ValueLayout.OfFloat f32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < values.length; i++) {
            switch (dtype) {
                case F32 -> seg.set(f32, 4L * i, values[i]);
                case F16 -> seg.set(s16, 2L * i, HalfFloats.floatToF16(values[i]));
                case BF16 -> seg.set(s16, 2L * i, HalfFloats.floatToBf16(values[i]));
            }
        }
        return Tensor.wrap(seg, dtype, Shape.of(dims));
    }

    /** Values rounded through the dtype, so the reference sees exactly what the kernel sees. */
    static float[] rounded(float[] v, DType dtype) {
        float[] r = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            r[i] = switch (dtype) {
                case F32 -> v[i];
                case F16 -> Float.float16ToFloat(Float.floatToFloat16(v[i]));
                case BF16 -> HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(v[i]));
                case Q8_0 -> throw new IllegalArgumentException("block type");
            };
        }
        return r;
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"F32", "F16", "BF16"})
    void segmentOperandsInEveryDtype(DType dtype) {
        long seed = 7 + dtype.ordinal();
        Random rnd = new Random(seed);
        int m = 29;
        int k = 300;
        int n = 70;
        try (Arena arena = Arena.ofConfined()) {
            for (int variant = 0; variant < 4; variant++) {
                boolean ta = (variant & 1) != 0;
                boolean tb = (variant & 2) != 0;
                float[] a = random(rnd, m * k);
                float[] b = random(rnd, k * n);
                Tensor as = ta ? segment(arena, a, dtype, k, m) : segment(arena, a, dtype, m, k);
                Tensor bs = tb ? segment(arena, b, dtype, n, k) : segment(arena, b, dtype, k, n);
                double[] want = refMatmul(rounded(a, dtype), ta, rounded(b, dtype), tb, m, k, n);
                // Segment A with heap B, heap A with segment B, and both segments.
                Tensor ah = ta ? Tensor.of(rounded(a, dtype), k, m) : Tensor.of(rounded(a, dtype), m, k);
                Tensor bh = tb ? Tensor.of(rounded(b, dtype), n, k) : Tensor.of(rounded(b, dtype), k, n);
                String what = "seed " + seed + " " + dtype + " ta=" + ta + " tb=" + tb;
                assertClose(want, Gemm.matmul(POOL2, as, ta, bh, tb).toFloatArray(), k, 1, what + " segA");
                assertClose(want, Gemm.matmul(POOL2, ah, ta, bs, tb).toFloatArray(), k, 1, what + " segB");
                assertClose(want, Gemm.matmul(POOL1, as, ta, bs, tb).toFloatArray(), k, 1, what + " both");
            }
        }
    }

    /** Every 16-bit pattern class (zeros, subnormals, normals, infinities, NaN) converts exactly while packing. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"F16", "BF16"})
    void halfPrecisionPackingIsBitExact(DType dtype) {
        long seed = 123 + dtype.ordinal();
        Random rnd = new Random(seed);
        int n = 16 * 64 + 5;
        short[] bits = new short[n];
        for (int i = 0; i < n; i++) {
            bits[i] = switch (i % 8) {
                case 0 -> (short) (rnd.nextInt(0x400) | (rnd.nextBoolean() ? 0x8000 : 0)); // zero / subnormal
                case 1 -> (short) 0x7C00; // +inf (F16)
                case 2 -> (short) (0x7C00 | (1 + rnd.nextInt(0x3FF))); // NaN (F16)
                case 3 -> (short) 0x8000; // -0
                default -> (short) rnd.nextInt(0x10000);
            };
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(2L * n);
            ValueLayout.OfShort s16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) {
                seg.set(s16, 2L * i, bits[i]);
            }
            // C = [1] · B with B the 1×n segment: C holds B converted to float32.
            Tensor c = Gemm.matmul(POOL1, Tensor.of(new float[] {1f}, 1, 1), false,
                    Tensor.wrap(seg, dtype, Shape.of(1, n)), false);
            float[] got = c.toFloatArray();
            for (int i = 0; i < n; i++) {
                // "+ 0f": the product is accumulated onto +0, which turns -0 into +0 and leaves the rest alone.
                float want = (dtype == DType.F16 ? Float.float16ToFloat(bits[i]) : HalfFloats.bf16ToFloat(bits[i])) + 0f;
                if (Float.isNaN(want)) {
                    assertTrue(Float.isNaN(got[i]), "seed " + seed + " element " + i + " bits " + bits[i]);
                } else {
                    assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(got[i]),
                            "seed " + seed + " element " + i + " bits 0x" + Integer.toHexString(bits[i] & 0xFFFF));
                }
            }
        }
    }

    @ParameterizedTest(name = "bias={0} dtype={1} shared={2}")
    @CsvSource({"true,F32,false", "false,F32,false", "true,F16,false", "false,BF16,false", "true,F16,true",
            "true,BF16,true"})
    void linearMatchesReference(boolean withBias, DType dtype, boolean sharedArena) {
        long seed = 99 + dtype.ordinal() + (withBias ? 10 : 0);
        Random rnd = new Random(seed);
        int batch = 2;
        int tokens = 77;
        int in = 96;
        int out = 130;
        float[] x = random(rnd, batch * tokens * in);
        float[] w = random(rnd, out * in);
        float[] bias = random(rnd, out);
        // A confined arena runs on the calling thread only; a shared one lets the pool read the weights.
        try (Arena arena = sharedArena ? Arena.ofShared() : Arena.ofConfined()) {
            Tensor wt = dtype == DType.F32 ? Tensor.of(w, out, in) : segment(arena, w, dtype, out, in);
            Tensor bt = withBias ? (dtype == DType.F32 ? Tensor.of(bias, out) : segment(arena, bias, dtype, out)) : null;
            float[] wr = rounded(w, dtype);
            float[] br = rounded(bias, dtype);
            Tensor y = Gemm.linear(POOL2, Tensor.of(x, batch, tokens, in), wt, bt);
            assertEquals(Shape.of(batch, tokens, out), y.shape());
            double[] want = new double[batch * tokens * out];
            for (int r = 0; r < batch * tokens; r++) {
                for (int o = 0; o < out; o++) {
                    double s = withBias ? br[o] : 0;
                    for (int i = 0; i < in; i++) {
                        s += (double) x[r * in + i] * wr[o * in + i];
                    }
                    want[r * out + o] = s;
                }
            }
            assertClose(want, y.toFloatArray(), in, 1, "seed " + seed + " linear bias=" + withBias + " " + dtype);
        }
    }

    /**
     * Both loop orders of a task against a double reference, with offset, ldc, both biases and accumulation: rows
     * beyond one block of MC over several K blocks (all of K packed at once), and a B too deep for that (K block by
     * K block); ragged edges everywhere.
     */
    @ParameterizedTest(name = "m={0} k={1} n={2} threads={3}")
    @CsvSource({"400,600,70,1", "401,600,70,2", "13,1100,1500,2", "20,4000,600,1", "21,4000,600,2"})
    void stridedGemmWithBiasesAndAccumulateOverManyBlocks(int m, int k, int n, int threads) {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        int ldc = n + 3;
        int cOff = 5;
        float[] a = random(rnd, m * k);
        float[] b = random(rnd, k * n);
        float[] rowBias = random(rnd, m);
        float[] colBias = random(rnd, n);
        float[] c0 = random(rnd, cOff + m * ldc);
        double[] ab = refMatmul(a, false, b, false, m, k, n);
        for (int mode = 0; mode < 2; mode++) {
            boolean acc = mode == 1;
            float[] c = c0.clone();
            Gemm.gemm(threads == 1 ? POOL1 : POOL2, m, n, k, Gemm.viewA(Tensor.of(a, m, k), 0, k, 1),
                    Gemm.viewB(Tensor.of(b, k, n), 0, n, 1), c, cOff, ldc, acc ? rowBias : null, acc ? null : colBias,
                    acc);
            double[] want = new double[c.length];
            for (int i = 0; i < c.length; i++) {
                want[i] = c0[i];
            }
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    int idx = cOff + i * ldc + j;
                    want[idx] = ab[i * n + j] + (acc ? c0[idx] + rowBias[i] : colBias[j]);
                }
            }
            assertClose(want, c, k, 1, "seed " + seed + " accumulate " + acc);
        }
    }

    @Test
    void lowLevelGemmWithOffsetLdcBiasesAndAccumulate() {
        long seed = 5;
        Random rnd = new Random(seed);
        int m = 27;
        int k = 290;
        int n = 53;
        int ldc = 61;
        int cOff = 7;
        float[] a = random(rnd, m * k);
        float[] b = random(rnd, k * n);
        float[] rowBias = random(rnd, m);
        float[] colBias = random(rnd, n);
        float[] c0 = random(rnd, cOff + m * ldc + 5);
        double[] ab = refMatmul(a, false, b, false, m, k, n);
        for (int mode = 0; mode < 8; mode++) {
            boolean acc = (mode & 1) != 0;
            float[] rb = (mode & 2) != 0 ? rowBias : null;
            float[] cb = (mode & 4) != 0 ? colBias : null;
            float[] c = c0.clone();
            Gemm.gemm(POOL2, m, n, k, Gemm.viewA(Tensor.of(a, m, k), 0, k, 1), Gemm.viewB(Tensor.of(b, k, n), 0, n, 1),
                    c, cOff, ldc, rb, cb, acc);
            double[] want = new double[c.length];
            for (int i = 0; i < c.length; i++) {
                want[i] = c0[i];
            }
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    int idx = cOff + i * ldc + j;
                    want[idx] = ab[i * n + j] + (acc ? c0[idx] : 0) + (rb != null ? rb[i] : 0) + (cb != null ? cb[j] : 0);
                }
            }
            assertClose(want, c, k, 1, "seed " + seed + " mode " + mode);
        }
    }

    /** B read in place through {@link Gemm.DirectB}: whole panels (direct kernel) and a ragged last tile (packed). */
    @ParameterizedTest(name = "m={0} k={1} n={2} threads={3}")
    @CsvSource({"13,40,64,1", "37,333,96,2", "50,700,48,2", "5,17,16,1", "30,650,1040,2", "25,20,2064,2"})
    void directBMatchesReference(int m, int k, int n, int threads) {
        long seed = 17L * m + k + 3L * n;
        Random rnd = new Random(seed);
        int vc = Gemm.VECTOR_COLUMNS;
        int ldb = 2 * n + 3 * vc;
        float[] a = random(rnd, m * k);
        float[] bStore = random(rnd, 5 + k * ldb);
        float[] b = new float[k * n];
        int[] rows = new int[k];
        for (int p = 0; p < k; p++) {
            // Rows in reverse order and shifted, so the row offsets really are used.
            rows[p] = 5 + (k - 1 - p) * ldb;
            for (int j = 0; j < n; j++) {
                b[p * n + j] = bStore[rows[p] + (j / vc) * 2 * vc + j % vc];
            }
        }
        float[] bias = random(rnd, m);
        // Each vector's columns are contiguous; the groups are a vector apart.
        Gemm.DirectB direct = directB(bStore, rows, j -> (j / vc) * 2 * vc, false);
        double[] want = refMatmul(a, false, b, false, m, k, n);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                want[i * n + j] += bias[i];
            }
        }
        float[] c = new float[m * n];
        try (ComputePool pool = new ComputePool(threads)) {
            Gemm.gemm(pool, m, n, k, Gemm.viewA(Tensor.of(a, m, k), 0, k, 1), direct, c, 0, n, bias, null, false);
        }
        assertClose(want, c, k, 1, "seed " + seed + " threads " + threads);
    }

    /**
     * B read in place as packed panels ({@link Gemm.DirectB#packedPanels}, Winograd's layout): whole panels go through
     * the packed kernel from the panel's offset, over one or several K blocks.
     */
    @ParameterizedTest(name = "m={0} k={1} n={2} threads={3}")
    @CsvSource({"13,40,64,1", "37,333,96,2", "50,700,64,2", "25,20,2048,2"})
    void directBInPackedPanelsMatchesReference(int m, int k, int n, int threads) {
        long seed = 23L * m + k + 5L * n;
        Random rnd = new Random(seed);
        int nr = Gemm.NR;
        int base = 7;
        int panel = k * nr + 3; // panels a little apart, so the panel offset really is used
        float[] a = random(rnd, m * k);
        float[] bStore = random(rnd, base + (n / nr) * panel);
        float[] b = new float[k * n];
        int[] rows = new int[k];
        for (int p = 0; p < k; p++) {
            rows[p] = p * nr;
            for (int j = 0; j < n; j++) {
                b[p * n + j] = bStore[base + (j / nr) * panel + p * nr + j % nr];
            }
        }
        Gemm.DirectB direct = directB(bStore, rows, j -> base + (j / nr) * panel + j % nr, true);
        double[] want = refMatmul(a, false, b, false, m, k, n);
        float[] c = new float[m * n];
        try (ComputePool pool = new ComputePool(threads)) {
            Gemm.gemm(pool, m, n, k, Gemm.viewA(Tensor.of(a, m, k), 0, k, 1), direct, c, 0, n, null, null, false);
        }
        assertClose(want, c, k, 1, "seed " + seed + " threads " + threads);
    }

    private static Gemm.DirectB directB(float[] data, int[] rows, java.util.function.IntUnaryOperator colOffset,
                                        boolean packedPanels) {
        return new Gemm.DirectB() {
            @Override
            public float[] data() {
                return data;
            }

            @Override
            public int[] rowOffsets() {
                return rows;
            }

            @Override
            public int colOffset(int j) {
                return colOffset.applyAsInt(j);
            }

            @Override
            public boolean packedPanels() {
                return packedPanels;
            }
        };
    }

    @Test
    void kZeroGivesBiasOrZero() {
        float[] c = {5, 5, 5, 5, 5, 5};
        Gemm.gemm(POOL1, 2, 3, 0, (i0, mc, k0, kc, d) -> { }, (k0, kc, j0, nc, d, o) -> { }, c, 0, 3,
                new float[] {1, 2}, null, false);
        assertArrayEquals(new float[] {1, 1, 1, 2, 2, 2}, c);
        Tensor z = Gemm.matmul(POOL2, Tensor.zeros(4, 0), false, Tensor.zeros(0, 3), false);
        assertEquals(Shape.of(4, 3), z.shape());
        for (float v : z.toFloatArray()) {
            assertEquals(0f, v);
        }
    }

    @Test
    void largeSquareAgainstReference() {
        long seed = 2024;
        Random rnd = new Random(seed);
        int m = 300;
        int k = 600;
        int n = 1100;
        float[] a = random(rnd, m * k);
        float[] b = random(rnd, k * n);
        double[] want = refMatmul(a, false, b, false, m, k, n);
        assertClose(want, Gemm.matmul(POOL2, Tensor.of(a, m, k), false, Tensor.of(b, k, n), false).toFloatArray(),
                k, 1, "seed " + seed);
    }

    @Test
    void badShapesAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Gemm.matmul(POOL1, Tensor.zeros(2, 3), false, Tensor.zeros(4, 5), false));
        assertTrue(e.getMessage().startsWith("matmul:") && e.getMessage().contains("[2, 3]")
                && e.getMessage().contains("[4, 5]"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> Gemm.matmul(POOL1, Tensor.zeros(2, 3, 4), false, Tensor.zeros(3, 4, 5), false));
        assertThrows(IllegalArgumentException.class,
                () -> Gemm.matmul(POOL1, Tensor.zeros(3, 4), false, Tensor.zeros(2, 4, 5), false));
        assertThrows(IllegalArgumentException.class,
                () -> Gemm.matmul(POOL1, Tensor.zeros(4), false, Tensor.zeros(4, 5), false));
        assertThrows(IllegalArgumentException.class,
                () -> Gemm.matmul(POOL1, Tensor.zeros(2, 3), true, Tensor.zeros(3, 5), false));
        IllegalArgumentException l = assertThrows(IllegalArgumentException.class,
                () -> Gemm.linear(POOL1, Tensor.zeros(2, 3), Tensor.zeros(4, 5), null));
        assertTrue(l.getMessage().startsWith("linear:"), l.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> Gemm.linear(POOL1, Tensor.zeros(2, 5), Tensor.zeros(4, 5), Tensor.zeros(3)));
        assertThrows(IllegalArgumentException.class,
                () -> Gemm.gemm(POOL1, 2, 2, 2, (i0, mc, k0, kc, d) -> { }, (k0, kc, j0, nc, d, o) -> { },
                        new float[3], 0, 2, null, null, false));
    }
}
