package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Quantized;
import dev.diffusion4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * GEMM, linear and convolution with {@link DType#Q8_0} weights, dequantised while packed. Three checks per case:
 * bit-identical to the same op on the dequantised weights as an F32 heap tensor (packing yields the same floats);
 * within the GEMM tolerance of a double reference on the dequantised weights; and within the quantisation bound of
 * the original weights, {@code |y - y_f32| <= Σ_k |x_k| · d_block(k) / 2} per output (each weight is within half its
 * block's scale), plus the GEMM tolerance.
 */
class QuantizedGemmTest {
    private static final ComputePool POOL = new ComputePool(2);
    private static final CpuBackend CPU = new CpuBackend(POOL);

    @AfterAll
    static void closePool() {
        POOL.close();
    }

    /** Weights like a trained layer's: gaussian, with a few larger outliers. */
    static float[] weights(Random rnd, int n, double std) {
        float[] w = new float[n];
        for (int i = 0; i < n; i++) {
            w[i] = (float) (rnd.nextGaussian() * std * (rnd.nextInt(50) == 0 ? 6 : 1));
        }
        return w;
    }

    @ParameterizedTest(name = "rows={0} in={1} out={2}")
    @CsvSource({"1, 32, 13", "7, 64, 33", "77, 320, 320", "131, 352, 40", "20, 2048, 48", "2, 768, 1280",
            "64, 96, 7", "5, 1280, 64"})
    void linearWithQ8Weights(int rows, int in, int out) {
        long seed = 1000L * rows + 7L * in + out;
        Random rnd = new Random(seed);
        float[] x = GemmTest.random(rnd, rows * in);
        float[] w = weights(rnd, out * in, 1 / Math.sqrt(in));
        float[] bias = GemmTest.random(rnd, out);
        try (Arena arena = Arena.ofShared()) {
            Tensor wq = Quantized.quantize(Tensor.of(w, out, in), arena);
            float[] dq = wq.toFloatArray();
            Tensor xt = Tensor.of(x, rows, in);
            Tensor got = CPU.linear(xt, wq, Tensor.of(bias, out));
            // 1. the same floats as the dequantised weights in F32
            assertArrayEquals(CPU.linear(xt, Tensor.of(dq, out, in), Tensor.of(bias, out)).toFloatArray(),
                    got.toFloatArray(),
                    "seed " + seed + ": Q8_0 weights must give exactly the result of their dequantised F32 copy");
            // 2. tight: a double reference on the dequantised weights
            double[] want = GemmTest.refMatmul(x, false, dq, true, rows, in, out);
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < out; j++) {
                    want[r * out + j] += bias[j];
                }
            }
            GemmTest.assertClose(want, got.toFloatArray(), in, 1, "seed " + seed + " vs dequantised");
            // 3. loose: the original weights, within the quantisation bound
            double[] orig = GemmTest.refMatmul(x, false, w, true, rows, in, out);
            double sq = 0;
            double ref = 0;
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < out; j++) {
                    double bound = 0;
                    for (int k = 0; k < in; k++) {
                        bound += Math.abs(x[r * in + k]) * Quantized.scale(wq, ((long) j * in + k) / 32) / 2;
                    }
                    double y = orig[r * out + j] + bias[j];
                    double err = Math.abs(got.getFlat((long) r * out + j) - y);
                    if (!(err <= bound * (1 + 0x1p-16) + 1e-5 * Math.sqrt(in) * Math.max(1, Math.abs(y)))) {
                        throw new AssertionError("seed " + seed + " row " + r + " col " + j + ": |y - y_f32| = " + err
                                + " > bound " + bound);
                    }
                    sq += err * err;
                    ref += y * y;
                }
            }
            double rel = Math.sqrt(sq / ref);
            // about 0.3 % for these gaussian weights: say so if it ever drifts far from that
            if (rel > 0.02) {
                throw new AssertionError("seed " + seed + ": relative RMS error vs F32 weights " + rel);
            }
        }
    }

    @Test
    void rankThreeInputAndMatmulOperands() {
        long seed = 77;
        Random rnd = new Random(seed);
        try (Arena arena = Arena.ofShared()) {
            float[] w = weights(rnd, 96 * 64, 0.1);
            Tensor wq = Quantized.quantize(Tensor.of(w, 96, 64), arena);
            Tensor wf = Tensor.of(wq.toFloatArray(), 96, 64);
            Tensor x = Tensor.of(GemmTest.random(rnd, 2 * 9 * 64), 2, 9, 64);
            assertArrayEquals(CPU.linear(x, wf, null).toFloatArray(),
                    CPU.linear(x, wq, null).toFloatArray(), "seed " + seed);
            // as B of a matmul, transposed ([N, K] rows of K) and not ([K, N]: blocks run along N)
            Tensor a = Tensor.of(GemmTest.random(rnd, 13 * 64), 13, 64);
            assertArrayEquals(CPU.matmul(a, false, wf, true).toFloatArray(),
                    CPU.matmul(a, false, wq, true).toFloatArray());
            Tensor a2 = Tensor.of(GemmTest.random(rnd, 13 * 96), 13, 96);
            assertArrayEquals(CPU.matmul(a2, false, wf, false).toFloatArray(),
                    CPU.matmul(a2, false, wq, false).toFloatArray());
            // and as A, transposed (strided reads of single elements)
            Tensor b = Tensor.of(GemmTest.random(rnd, 96 * 5), 96, 5);
            assertArrayEquals(CPU.matmul(wf, true, b, false).toFloatArray(),
                    CPU.matmul(wq, true, b, false).toFloatArray());
            Tensor c = Tensor.of(GemmTest.random(rnd, 64 * 3), 64, 3);
            assertArrayEquals(CPU.matmul(wf, false, c, false).toFloatArray(),
                    CPU.matmul(wq, false, c, false).toFloatArray());
        }
    }

    @ParameterizedTest(name = "n={0} cin={1} {2}x{3} cout={4} k={5} s={6} pad={7}")
    @CsvSource({
            // 3x3 stride 1 with rows of whole vectors: the direct path (B in place), A = Q8_0 weight rows of 288
            "1, 32, 16, 16, 40, 3, 1, 1",
            // stride 2 (im2col packing), odd output channels
            "1, 32, 17, 15, 13, 3, 2, 1",
            // 1x1: a plain GEMM, rows of 64
            "2, 64, 9, 10, 70, 1, 1, 0",
            // small images of a batch: one joint GEMM; rows of 320·9 = 2880 (K blocks of 320 cut blocks in the middle)
            "2, 320, 8, 8, 35, 3, 1, 1",
            // rows of 96·9 = 864: equal K blocks of 288
            "1, 96, 12, 16, 24, 3, 1, 1",
    })
    void conv2dWithQ8Weights(int n, int cin, int h, int w, int cout, int k, int s, int pad) {
        long seed = 31L * n + 7L * cin + h * 3L + w + cout * 11L + k;
        Random rnd = new Random(seed);
        float[] x = GemmTest.random(rnd, n * cin * h * w);
        float[] wt = weights(rnd, cout * cin * k * k, 1 / Math.sqrt(cin * k * k));
        float[] bias = GemmTest.random(rnd, cout);
        try (Arena arena = Arena.ofShared()) {
            Tensor wq = Quantized.quantize(Tensor.of(wt, cout, cin, k, k), arena);
            float[] dq = wq.toFloatArray();
            Tensor xt = Tensor.of(x, n, cin, h, w);
            Tensor bt = Tensor.of(bias, cout);
            Tensor got = CPU.conv2d(xt, wq, bt, s, pad);
            assertArrayEquals(CPU.conv2d(xt, Tensor.of(dq, cout, cin, k, k), bt, s, pad).toFloatArray(),
                    got.toFloatArray(),
                    "seed " + seed + ": Q8_0 weights must give exactly the result of their dequantised F32 copy");
            double[] want = Conv2dTest.reference(x, n, cin, h, w, dq, cout, k, k, bias, s, pad, pad, pad, pad);
            GemmTest.assertClose(want, got.toFloatArray(), cin * k * k, 1, "seed " + seed + " vs dequantised");
        }
    }

    /** Winograd F(4,3) at 16×16 and F(2×2, 3×3) at 8×8 (a guided batch of 2, 256 channels: both paths taken). */
    @ParameterizedTest(name = "{0}x{0}")
    @CsvSource({"16", "8"})
    void winogradReadsQ8Weights(int side) {
        long seed = 240L + side;
        Random rnd = new Random(seed);
        int c = 256;
        Tensor x = Tensor.of(GemmTest.random(rnd, 2 * c * side * side), 2, c, side, side);
        Tensor bias = Tensor.of(GemmTest.random(rnd, c), c);
        try (Arena arena = Arena.ofShared()) {
            Tensor wq = Quantized.quantize(Tensor.of(weights(rnd, c * c * 9, 1 / 48.0), c, c, 3, 3), arena);
            Tensor wf = Tensor.of(wq.toFloatArray(), c, c, 3, 3);
            boolean takes = side == 8 ? WinogradF2.pays(ConvAlgorithm.AUTO, 2, c, side, side, wq, bias, 1, 1, 1, 1, 1)
                    : Winograd.pays(ConvAlgorithm.AUTO, x, wq, bias, 1, 1, 1, 1, 1);
            org.junit.jupiter.api.Assertions.assertTrue(takes, "this case takes the Winograd path");
            assertArrayEquals(CPU.conv2d(x, wf, bias, 1, 1).toFloatArray(),
                    CPU.conv2d(x, wq, bias, 1, 1).toFloatArray(),
                    "seed " + seed + ": Winograd on Q8_0 weights = on their dequantised F32 copy");
        }
    }

    @Test
    void fusedConvolutionsReadQ8Weights() {
        long seed = 4242;
        Random rnd = new Random(seed);
        int cin = 32;
        int cout = 48;
        Tensor x = Tensor.of(GemmTest.random(rnd, 2 * cin * 16 * 16), 2, cin, 16, 16);
        Tensor gamma = Tensor.of(GemmTest.random(rnd, cin), cin);
        Tensor beta = Tensor.of(GemmTest.random(rnd, cin), cin);
        Tensor bias = Tensor.of(GemmTest.random(rnd, cout), cout);
        try (Arena arena = Arena.ofShared()) {
            Tensor wq = Quantized.quantize(Tensor.of(weights(rnd, cout * cin * 9, 0.06), cout, cin, 3, 3), arena);
            Tensor wf = Tensor.of(wq.toFloatArray(), cout, cin, 3, 3);
            assertArrayEquals(CPU.groupNormConv2d(x, 8, gamma, beta, 1e-5f, true, wf, bias, 1, null, false).toFloatArray(),
                    
                    CPU.groupNormConv2d(x, 8, gamma, beta, 1e-5f, true, wq, bias, 1, null, false).toFloatArray(),
                    "seed " + seed + " GroupNorm+SiLU+conv");
            assertArrayEquals(CPU.upsampleConv2d(x, 32, 32, wf, bias, 1).toFloatArray(),
                    CPU.upsampleConv2d(x, 32, 32, wq, bias, 1).toFloatArray(), "seed " + seed + " upsample+conv");
            assertEquals(DType.Q8_0, wq.dtype());
        }
    }
}
