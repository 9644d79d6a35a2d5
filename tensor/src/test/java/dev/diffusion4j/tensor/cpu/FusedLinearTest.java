package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@link FusedLinear} against double-precision references: epilogues, concatenated layers, GEGLU. */
class FusedLinearTest {
    private static final ComputePool POOL1 = new ComputePool(1);
    private static final ComputePool POOL2 = new ComputePool(2);

    @AfterAll
    static void closePools() {
        POOL1.close();
        POOL2.close();
    }

    private static ComputePool pool(int threads) {
        return threads == 1 ? POOL1 : POOL2;
    }

    /** {@code x · wᵀ + b} in double: x {@code [m, k]}, w {@code [n, k]} (already rounded to its dtype). */
    private static double[] refLinear(float[] x, float[] w, float[] b, int m, int k, int n) {
        double[] y = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = b == null ? 0 : b[j];
                for (int p = 0; p < k; p++) {
                    s += (double) x[i * k + p] * w[j * k + p];
                }
                y[i * n + j] = s;
            }
        }
        return y;
    }

    /**
     * A 1×1 convolution in double: x {@code [n, c, hw]}, w {@code [out, c]}, bias {@code [out]} and residual
     * {@code [n, out, hw]} either null.
     */
    private static double[] refConv1x1(float[] x, float[] w, float[] b, float[] res, int n, int c, int hw, int out) {
        double[] y = new double[n * out * hw];
        for (int img = 0; img < n; img++) {
            for (int co = 0; co < out; co++) {
                for (int p = 0; p < hw; p++) {
                    double acc = b == null ? 0 : b[co];
                    for (int ci = 0; ci < c; ci++) {
                        acc += (double) w[co * c + ci] * x[(img * c + ci) * hw + p];
                    }
                    int i = (img * out + co) * hw + p;
                    y[i] = acc + (res == null ? 0 : res[i]);
                }
            }
        }
        return y;
    }

    private static Tensor weight(Arena arena, float[] w, DType dtype, int n, int k) {
        return dtype == DType.F32 && arena == null ? Tensor.of(w.clone(), n, k) : GemmTest.segment(arena, w, dtype, n, k);
    }

    @ParameterizedTest(name = "m={0} k={1} n={2} {3} threads={4} bias={5} residual={6}")
    @CsvSource({"1,1,1,F32,1,true,true", "5,3,7,F16,2,false,true", "13,17,33,F32,2,true,false",
            "37,700,70,F16,2,true,true", "250,64,96,F32,2,true,true", "250,64,96,BF16,1,false,false",
            "200,1100,1030,F16,2,true,false", "0,5,5,F32,2,true,true", "4,0,6,F32,2,true,true",
            "193,45,64,F16,2,false,true", "1100,330,1000,F16,2,true,true", "300,700,70,F16,2,false,false",
            "3,0,40,F32,2,false,false", "1030,40,64,F32,2,false,false",
            // Deep K: B packed in chunks narrower than NC (CHUNK_B), many K blocks per strip; ragged edges.
            "50,5000,600,F16,2,true,true", "61,5000,601,BF16,1,false,false", "29,2100,1100,F32,2,false,true",
            // Shared B over two threads' row tiles, several chunks: A too big to share / columns too few to split.
            "70,60000,64,F16,2,true,true", "5,20000,400,F32,2,false,true",
            // Split over columns, K block by K block, several blocks of rows (up to 4·MC rows).
            "700,600,1100,F16,2,true,true", "500,300,640,F32,2,false,false",
            // Many rows: row tiles against all of B packed once, several column tiles (n > NC), ragged edges.
            "800,300,1100,F16,2,true,true", "901,520,1300,F32,1,false,false", "1000,70,1057,BF16,2,false,true",
            // At most four rows: dot products per weight row (a time-embedding projection, odd sizes, tails).
            "2,1280,1280,F16,2,true,true", "3,700,70,BF16,2,false,true", "4,45,33,F32,1,true,false",
            "2,19,200,F16,2,false,false", "1,1000,17,F32,2,true,true",
            // No K: the output is bias + residual (in place: the residual left as it is, the bias added).
            "9,0,40,F32,2,true,true"})
    void linearWithBiasAndResidual(int m, int k, int n, DType dtype, int threads, boolean bias, boolean residual) {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        float[] x = GemmTest.random(rnd, m * k);
        float[] w = GemmTest.rounded(GemmTest.random(rnd, n * k), dtype);
        float[] b = bias ? GemmTest.random(rnd, n) : null;
        float[] r = residual ? GemmTest.random(rnd, m * n) : null;
        double[] want = refLinear(x, w, b, m, k, n);
        if (r != null) {
            for (int i = 0; i < want.length; i++) {
                want[i] += r[i];
            }
        }
        try (Arena arena = Arena.ofShared()) {
            Tensor wt = weight(arena, w, dtype, n, k);
            Tensor bt = b == null ? null : GemmTest.segment(arena, b, DType.F32, n);
            // With residualIsScratch, products of more than four rows accumulate onto the residual in its own storage.
            for (boolean scratch : new boolean[] {false, true}) {
                Tensor rt = r == null ? null : Tensor.of(r.clone(), 1, m, n);
                Tensor y = FusedLinear.linear(pool(threads), Tensor.of(x.clone(), 1, m, k), wt, bt, rt, scratch);
                assertArrayEquals(new int[] {1, m, n}, y.shape().dims(), "seed " + seed);
                GemmTest.assertClose(want, y.toFloatArray(), k, 1, "seed " + seed + " linear+residual scratch " + scratch);
                if (rt != null) {
                    assertEquals(scratch && m > 4, y.array() == rt.array(),
                            "seed " + seed + ": output in the residual's storage");
                }
            }
        }
    }

    /** The input as its own residual, given up: the product must not write over the rows it still reads. */
    @Test
    void residualSharingTheInputIsNotOverwrittenWhileRead() {
        Random rnd = new Random(7);
        // Rows enough that A is packed block by block, each K block of a block of rows after the previous one's C.
        int m = 1100;
        int k = 700;
        float[] x = GemmTest.random(rnd, m * k);
        float[] w = GemmTest.random(rnd, k * k);
        double[] want = refLinear(x, w, null, m, k, k);
        for (int i = 0; i < want.length; i++) {
            want[i] += x[i];
        }
        Tensor xt = Tensor.of(x.clone(), 1, m, k);
        Tensor y = FusedLinear.linear(POOL2, xt, Tensor.of(w, k, k), null, xt, true);
        GemmTest.assertClose(want, y.toFloatArray(), k, 1, "x as its own residual");
    }

    /** The same for a 1×1 convolution of one image (pixels enough that A is packed per block) whose input is its residual. */
    @Test
    void convResidualSharingTheInputIsNotOverwrittenWhileRead() {
        Random rnd = new Random(8);
        int c = 700;
        int side = 40;
        int hw = side * side;
        float[] x = GemmTest.random(rnd, c * hw);
        float[] w = GemmTest.random(rnd, c * c);
        double[] want = refConv1x1(x, w, null, x, 1, c, hw, c);
        Tensor xt = Tensor.of(x.clone(), 1, c, side, side);
        Tensor y = FusedLinear.conv1x1(POOL2, xt, Tensor.of(w, c, c, 1, 1), null, xt, true);
        GemmTest.assertClose(want, y.toFloatArray(), c, 1, "x as its own residual");
    }

    /** A residual that is a view into a larger array is never written, even when the caller gives it up. */
    @Test
    void residualViewIsNotOverwritten() {
        Random rnd = new Random(5);
        int m = 40;
        int k = 64;
        int n = 48;
        float[] big = GemmTest.random(rnd, 2 * m * n);
        float[] copy = big.clone();
        Tensor rt = Tensor.of(big, 2, m, n).slice(1).reshape(1, m, n);
        Tensor y = FusedLinear.linear(POOL2, Tensor.of(GemmTest.random(rnd, m * k), 1, m, k),
                Tensor.of(GemmTest.random(rnd, n * k), n, k), null, rt, true);
        assertTrue(y.array() != big, "output in a fresh array");
        assertArrayEquals(copy, big, "residual's array unchanged");
    }

    @ParameterizedTest(name = "m={0} k={1} outs={2} threads={3}")
    @CsvSource({"77,40,64 32 96,2", "154,768,320 320,2", "3,5,32 32 32,1", "250,330,96 64 32,2", "9,12,33 64,2",
            "300,20,128 160,1", "4,0,32 64,2", "1000,64,320 384 416,2"})
    void linearsMatchOneLayerEach(int m, int k, String outs, int threads) {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        String[] o = outs.split(" ");
        Tensor x = Tensor.of(GemmTest.random(rnd, m * k), m, k);
        Tensor[] ws = new Tensor[o.length];
        Tensor[] bs = new Tensor[o.length];
        float[][] wf = new float[o.length][];
        float[][] bf = new float[o.length][];
        try (Arena arena = Arena.ofShared()) {
            for (int p = 0; p < o.length; p++) {
                int n = Integer.parseInt(o[p]);
                wf[p] = GemmTest.rounded(GemmTest.random(rnd, n * k), DType.F16);
                ws[p] = GemmTest.segment(arena, wf[p], DType.F16, n, k);
                // Every other layer without bias.
                bf[p] = p % 2 == 0 ? GemmTest.random(rnd, n) : null;
                bs[p] = bf[p] == null ? null : Tensor.of(bf[p].clone(), n);
            }
            Tensor[] ys = FusedLinear.linears(pool(threads), x, ws, bs);
            assertEquals(o.length, ys.length);
            for (int p = 0; p < o.length; p++) {
                int n = ws[p].dim(0);
                assertArrayEquals(new int[] {m, n}, ys[p].shape().dims(), "seed " + seed + " layer " + p);
                GemmTest.assertClose(refLinear(x.toFloatArray(), wf[p], bf[p], m, k, n), ys[p].toFloatArray(), k, 1,
                        "seed " + seed + " layer " + p + " of " + outs);
            }
            // No biases at all (the kernel writes the outputs in place).
            Tensor[] nb = FusedLinear.linears(pool(threads), x, ws, null);
            for (int p = 0; p < o.length; p++) {
                GemmTest.assertClose(refLinear(x.toFloatArray(), wf[p], null, m, k, ws[p].dim(0)), nb[p].toFloatArray(),
                        k, 1, "seed " + seed + " no biases, layer " + p + " of " + outs);
            }
        }
    }

    @ParameterizedTest(name = "m={0} k={1} h={2} {3} threads={4}")
    @CsvSource({"1,7,32,F32,1", "19,33,64,F16,2", "130,320,128,F16,2", "40,700,96,BF16,2", "250,64,160,F32,2",
            "21,13,40,F32,2", "5,3,1,F32,1", "1030,20,32,F16,2",
            // Two chunks of B (CHUNK_B bounds the columns at deep K), ragged rows.
            "30,2100,640,F16,2", "31,2100,640,F16,1", "800,300,640,F16,2"})
    void linearGegluMatchesReference(int m, int k, int h, DType dtype, int threads) {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        float[] x = GemmTest.random(rnd, m * k);
        float[] w = GemmTest.rounded(GemmTest.random(rnd, 2 * h * k), dtype);
        float[] b = GemmTest.random(rnd, 2 * h);
        try (Arena arena = Arena.ofShared()) {
            Tensor y = FusedLinear.linearGeglu(pool(threads), Tensor.of(x.clone(), m, k),
                    weight(arena, w, dtype, 2 * h, k), Tensor.of(b.clone(), 2 * h));
            assertArrayEquals(new int[] {m, h}, y.shape().dims(), "seed " + seed);
            double[] proj = refLinear(x, w, b, m, k, 2 * h);
            double[] want = new double[m * h];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < h; j++) {
                    want[i * h + j] = proj[i * 2 * h + j] * Reference.geluErf(proj[i * 2 * h + h + j]);
                }
            }
            // The product's rounding error, scaled by |gelu(g)| + |a·gelu'(g)| (both below about 2·max).
            GemmTest.assertClose(want, y.toFloatArray(), k, 4, "seed " + seed + " linearGeglu");
        }
    }

    @Test
    void gegluWithoutBias() {
        Random rnd = new Random(7);
        int m = 30;
        int k = 50;
        int h = 64;
        float[] x = GemmTest.random(rnd, m * k);
        float[] w = GemmTest.random(rnd, 2 * h * k);
        Tensor y = FusedLinear.linearGeglu(POOL2, Tensor.of(x, m, k), Tensor.of(w, 2 * h, k), null);
        double[] proj = refLinear(x, w, null, m, k, 2 * h);
        double[] want = new double[m * h];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < h; j++) {
                want[i * h + j] = proj[i * 2 * h + j] * Reference.geluErf(proj[i * 2 * h + h + j]);
            }
        }
        GemmTest.assertClose(want, y.toFloatArray(), k, 4, "geglu without bias");
    }

    /**
     * x layer-normalised while A's panels are packed gives exactly the products of the stored normalisation: one layer
     * (the cross-attention's query), three (q, k, v as one product), GEGLU; a partial last panel, K not a multiple of
     * the normalised chunk (96 = 64 + 32), few rows (A packed once and shared) and several blocks of rows.
     */
    @ParameterizedTest(name = "rows={0} in={1} out={2} threads={3}")
    @CsvSource({"400,320,64,2", "23,96,32,2", "77,640,64,1", "1030,96,96,2"})
    void layerNormLinearsAreTheStoredNormalisation(int rows, int in, int out, int threads) {
        Random rnd = new Random(13L * rows + in);
        Tensor x = Tensor.of(GemmTest.random(rnd, 2 * rows * in), 2, rows, in);
        Tensor gamma = Tensor.of(GemmTest.random(rnd, in), in);
        Tensor beta = Tensor.of(GemmTest.random(rnd, in), in);
        try (Arena arena = Arena.ofShared()) {
            Tensor[] w = new Tensor[3];
            Tensor[] b = new Tensor[3];
            for (int p = 0; p < 3; p++) {
                w[p] = weight(arena, GemmTest.rounded(GemmTest.random(rnd, out * in), DType.F16), DType.F16, out, in);
                b[p] = p == 1 ? null : Tensor.of(GemmTest.random(rnd, out), out);
            }
            ComputePool pool = pool(threads);
            Tensor normed = Norms.layerNorm(pool, x, gamma, beta, 1e-5f);
            Tensor[] want = FusedLinear.linears(pool, normed, w, b);
            Tensor[] got = FusedLinear.layerNormLinears(pool, x, gamma, beta, 1e-5f, w, b);
            for (int p = 0; p < 3; p++) {
                assertArrayEquals(want[p].shape().dims(), got[p].shape().dims());
                assertArrayEquals(want[p].toFloatArray(), got[p].toFloatArray(), "layer " + p);
            }
            Tensor[] one = FusedLinear.layerNormLinears(pool, x, gamma, beta, 1e-5f, new Tensor[] {w[0]},
                    new Tensor[] {b[0]});
            // alone, the stored normalisation goes through the plain linear: the same sums, its own kernel path
            GemmTest.assertClose(toDouble(FusedLinear.linear(pool, normed, w[0], b[0], null).toFloatArray()),
                    one[0].toFloatArray(), in, 1, "one layer");
            Tensor wg = weight(arena, GemmTest.rounded(GemmTest.random(rnd, 2 * out * in), DType.F16), DType.F16,
                    2 * out, in);
            Tensor bg = Tensor.of(GemmTest.random(rnd, 2 * out), 2 * out);
            assertArrayEquals(FusedLinear.linearGeglu(pool, normed, wg, bg).toFloatArray(),
                    FusedLinear.layerNormLinearGeglu(pool, x, gamma, beta, 1e-5f, wg, bg).toFloatArray(), "GEGLU");
        }
    }

    private static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    /**
     * The image group-normalised while its panels are packed gives exactly the product of the stored normalised image:
     * several blocks of rows (400 pixels), a partial last panel, F16 weights.
     */
    @ParameterizedTest(name = "n={0} c={1} h={2} w={3} out={4} threads={5}")
    @CsvSource({"2,32,20,20,64,2", "1,64,7,5,32,1", "2,320,16,16,320,2"})
    void groupNormFromChannelsIsTheStoredNormalisation(int n, int c, int h, int w, int out, int threads) {
        Random rnd = new Random(31L * c + h);
        Tensor x = Tensor.of(GemmTest.random(rnd, n * c * h * w), n, c, h, w);
        Tensor gamma = Tensor.of(GemmTest.random(rnd, c), c);
        Tensor beta = Tensor.of(GemmTest.random(rnd, c), c);
        float[] win = GemmTest.rounded(GemmTest.random(rnd, out * c), DType.F16);
        Tensor bias = Tensor.of(GemmTest.random(rnd, out), out);
        try (Arena arena = Arena.ofShared()) {
            Tensor wt = weight(arena, win, DType.F16, out, c);
            ComputePool pool = pool(threads);
            Tensor want = FusedLinear.linearFromChannels(pool, Norms.groupNorm(pool, x, 8, gamma, beta, 1e-6f, false),
                    wt, bias);
            Tensor got = FusedLinear.linearFromChannels(pool, x,
                    Norms.groupNormCoefficients(pool, x, 8, gamma, beta, 1e-6f), wt, bias);
            assertArrayEquals(want.shape().dims(), got.shape().dims());
            assertArrayEquals(want.toFloatArray(), got.toFloatArray());
        }
    }

    @ParameterizedTest(name = "n={0} c={1} h={2} w={3} out={4} {5} threads={6}")
    @CsvSource({"2,5,3,7,9,F32,2", "1,40,16,16,64,F16,2", "2,330,5,9,33,F16,2", "3,8,1,1,32,F32,1",
            "2,64,13,11,100,BF16,2"})
    void linearFromAndToChannelsMatchTransposedLinear(int n, int c, int h, int w, int out, DType dtype, int threads) {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        int hw = h * w;
        float[] x = GemmTest.random(rnd, n * c * hw);
        float[] win = GemmTest.rounded(GemmTest.random(rnd, out * c), dtype);
        float[] bin = GemmTest.random(rnd, out);
        float[] wout = GemmTest.rounded(GemmTest.random(rnd, c * out), dtype);
        float[] bout = GemmTest.random(rnd, c);
        float[] res = GemmTest.random(rnd, n * c * hw);
        try (Arena arena = Arena.ofShared()) {
            Tensor seq = FusedLinear.linearFromChannels(pool(threads), Tensor.of(x.clone(), n, c, h, w),
                    weight(arena, win, dtype, out, c), Tensor.of(bin.clone(), out));
            assertArrayEquals(new int[] {n, hw, out}, seq.shape().dims(), "seed " + seed);
            // Reference: the image transposed to [N·HW, C] rows, then x·Wᵀ + b.
            float[] xt = new float[n * hw * c];
            for (int b = 0; b < n; b++) {
                for (int ch = 0; ch < c; ch++) {
                    for (int p = 0; p < hw; p++) {
                        xt[(b * hw + p) * c + ch] = x[(b * c + ch) * hw + p];
                    }
                }
            }
            double[] wantSeq = refLinear(xt, win, bin, n * hw, c, out);
            GemmTest.assertClose(wantSeq, seq.toFloatArray(), c, 1, "seed " + seed + " linearFromChannels");

            float[] s = seq.toFloatArray();
            Tensor img = FusedLinear.linearToChannels(pool(threads), seq, weight(arena, wout, dtype, c, out),
                    Tensor.of(bout.clone(), c), Tensor.of(res.clone(), n, c, h, w), h, w);
            assertArrayEquals(new int[] {n, c, h, w}, img.shape().dims(), "seed " + seed);
            double[] rows = refLinear(s, wout, bout, n * hw, out, c);
            double[] want = new double[n * c * hw];
            for (int b = 0; b < n; b++) {
                for (int ch = 0; ch < c; ch++) {
                    for (int p = 0; p < hw; p++) {
                        int i = (b * c + ch) * hw + p;
                        want[i] = rows[(b * hw + p) * c + ch] + res[i];
                    }
                }
            }
            GemmTest.assertClose(want, img.toFloatArray(), out, 1, "seed " + seed + " linearToChannels");
            // The residual given up: the image is written into its storage, with the same values.
            Tensor scratch = Tensor.of(res.clone(), n, c, h, w);
            Tensor inPlace = FusedLinear.linearToChannels(pool(threads), seq, weight(arena, wout, dtype, c, out),
                    Tensor.of(bout.clone(), c), scratch, h, w, true);
            assertTrue(inPlace.array() == scratch.array(), "seed " + seed + ": output in the residual's storage");
            GemmTest.assertClose(want, inPlace.toFloatArray(), out, 1, "seed " + seed + " linearToChannels in place");
            Tensor noRes = FusedLinear.linearToChannels(pool(threads), seq, weight(arena, wout, dtype, c, out), null,
                    null, h, w);
            for (int i = 0; i < want.length; i++) {
                int b = i / (c * hw);
                int ch = i / hw % c;
                int p = i % hw;
                want[i] = rows[(b * hw + p) * c + ch] - bout[ch];
            }
            GemmTest.assertClose(want, noRes.toFloatArray(), out, 1, "seed " + seed + " linearToChannels, no bias");
        }
    }

    /**
     * {@link FusedLinear#conv1x1} against a double reference: odd sizes (pixels and output channels not whole vectors
     * or panels), batch of several images, bias and residual (also into the residual's own storage), segment weights.
     */
    @ParameterizedTest(name = "n={0} c={1} h={2} w={3} out={4} {5} threads={6} bias={7} residual={8}")
    @CsvSource({"2,19,5,7,40,F16,2,true,true", "1,3,1,1,5,F32,1,false,false", "3,64,16,16,96,BF16,2,true,false",
            "2,330,9,13,33,F16,2,false,true", "2,16,32,32,320,F32,2,true,true",
            // Images of at most 64 pixels: the batch side by side as one product.
            "3,70,8,8,100,F16,2,true,true", "2,40,4,4,64,BF16,1,false,true"})
    void conv1x1MatchesReference(int n, int c, int h, int w, int out, DType dtype, int threads, boolean bias,
                                 boolean residual) {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        int hw = h * w;
        float[] x = GemmTest.random(rnd, n * c * hw);
        float[] wt = GemmTest.rounded(GemmTest.random(rnd, out * c), dtype);
        float[] b = bias ? GemmTest.random(rnd, out) : null;
        float[] res = residual ? GemmTest.random(rnd, n * out * hw) : null;
        double[] want = refConv1x1(x, wt, b, res, n, c, hw, out);
        try (Arena arena = Arena.ofShared()) {
            Tensor weight = weight(arena, wt, dtype, out, c).reshape(out, c, 1, 1);
            for (boolean scratch : new boolean[] {false, true}) {
                Tensor r = res == null ? null : Tensor.of(res.clone(), n, out, h, w);
                Tensor y = FusedLinear.conv1x1(pool(threads), Tensor.of(x.clone(), n, c, h, w), weight,
                        b == null ? null : Tensor.of(b.clone(), out), r, scratch);
                assertArrayEquals(new int[] {n, out, h, w}, y.shape().dims(), "seed " + seed);
                GemmTest.assertClose(want, y.toFloatArray(), c, 1, "seed " + seed + " conv1x1 scratch " + scratch);
                if (r != null) {
                    assertEquals(scratch, y == r, "seed " + seed + ": output in the residual's storage");
                }
            }
        }
    }

    @Test
    void badShapesNameTheOp() {
        Tensor x = Tensor.zeros(2, 3, 8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> FusedLinear.linear(POOL1, x, Tensor.zeros(4, 7), null, null));
        assertTrue(e.getMessage().startsWith("linear:") && e.getMessage().contains("[2, 3, 8]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> FusedLinear.linear(POOL1, x, Tensor.zeros(4, 8), null, Tensor.zeros(2, 3, 5)));
        assertTrue(e.getMessage().contains("residual") && e.getMessage().contains("[2, 3, 5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> FusedLinear.linear(POOL1, x, Tensor.zeros(4, 8), Tensor.zeros(5), null));
        assertTrue(e.getMessage().contains("bias [5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> FusedLinear.linearGeglu(POOL1, x, Tensor.zeros(5, 8), null));
        assertTrue(e.getMessage().startsWith("linearGeglu:") && e.getMessage().contains("[5, 8]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> FusedLinear.linears(POOL1, x, new Tensor[] {Tensor.zeros(4, 8), Tensor.zeros(4, 9)}, null));
        assertTrue(e.getMessage().startsWith("linears:") && e.getMessage().contains("[4, 9]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> FusedLinear.linears(POOL1, x, new Tensor[] {Tensor.zeros(4, 8)}, new Tensor[2]));
        assertTrue(e.getMessage().startsWith("linears:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> FusedLinear.linearFromChannels(POOL1, Tensor.zeros(1, 6, 2, 2), Tensor.zeros(4, 5), null));
        assertTrue(e.getMessage().startsWith("linearFromChannels:") && e.getMessage().contains("[1, 6, 2, 2]"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> FusedLinear.linearToChannels(POOL1, x, Tensor.zeros(4, 8), null, null, 2, 2));
        assertTrue(e.getMessage().startsWith("linearToChannels:") && e.getMessage().contains("2x2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> FusedLinear.linearToChannels(POOL1, x, Tensor.zeros(4, 8), null, Tensor.zeros(2, 4, 1, 2), 3, 1));
        assertTrue(e.getMessage().contains("residual [2, 4, 1, 2]"), e.getMessage());
        Tensor img = Tensor.zeros(2, 8, 3, 3);
        e = assertThrows(IllegalArgumentException.class,
                () -> FusedLinear.conv1x1(POOL1, img, Tensor.zeros(4, 7, 1, 1), null, null, false));
        assertTrue(e.getMessage().startsWith("conv1x1:") && e.getMessage().contains("[4, 7, 1, 1]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> FusedLinear.conv1x1(POOL1, img, Tensor.zeros(4, 8, 1, 1), null, Tensor.zeros(2, 4, 3, 2), false));
        assertTrue(e.getMessage().contains("residual [2, 4, 3, 2]"), e.getMessage());
    }
}
