package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.DoubleUnaryOperator;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ElementwiseTest {
    private static ComputePool pool;
    private static CpuBackend cpu;
    private static final int[] SIZES = {1, 7, 15, 16, 17, 33, 1000, 32769, 100_003};

    @BeforeAll
    static void start() {
        pool = new ComputePool(3);
        cpu = new CpuBackend(pool);
    }

    @AfterAll
    static void stop() {
        pool.close();
    }

    private static void checkActivation(String name, UnaryOperator<Tensor> op, DoubleUnaryOperator ref, double abs, double rel) {
        long seed = System.nanoTime();
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int n : SIZES) {
            float[] x = Reference.gaussian(rnd, n, 0, 4);
            if (n > 20) {
                x[3] = 0f;
                x[4] = -0f;
                x[5] = 30f;
                x[6] = -30f;
                x[7] = 100f;
                x[8] = -100f;
            }
            Tensor out = op.apply(Tensor.of(x, n));
            double[] want = new double[n];
            for (int i = 0; i < n; i++) {
                want[i] = ref.applyAsDouble(x[i]);
            }
            Reference.assertClose(want, out.toFloatArray(), abs, rel, name + " seed " + seed + " n=" + n);
            assertArrayEquals(x, Arrays.copyOf(x, n), "input untouched");
        }
        // batch shape, offset view, segment (F16) input
        float[] x = Reference.gaussian(rnd, 2 * 3 * 37, 0, 3);
        Tensor view = Tensor.of(x, 2, 3, 37).slice(1);
        float[] tail = Arrays.copyOfRange(x, 111, 222);
        double[] want = new double[tail.length];
        for (int i = 0; i < tail.length; i++) {
            want[i] = ref.applyAsDouble(tail[i]);
        }
        Tensor outView = op.apply(view);
        assertEquals(Shape.of(3, 37), outView.shape());
        Reference.assertClose(want, outView.toFloatArray(), abs, rel, name + " view seed " + seed);
        Tensor seg = NormsTest.segment(tail, DType.F16, 3, 37);
        float[] rounded = seg.toFloatArray();
        for (int i = 0; i < tail.length; i++) {
            want[i] = ref.applyAsDouble(rounded[i]);
        }
        Reference.assertClose(want, op.apply(seg).toFloatArray(), abs, rel, name + " F16 segment seed " + seed);
        Tensor nan = op.apply(Tensor.of(new float[] {Float.NaN}, 1));
        assertTrue(Float.isNaN(nan.getFlat(0)), name + "(NaN) is NaN");
    }

    @Test
    void silu() {
        checkActivation("silu", cpu::silu, Reference::silu, 1e-37, 4e-7);
    }

    @Test
    void geluExact() {
        // the argument x/√2 is rounded to float first (as in PyTorch): the reference does the same;
        // 1e-7 absolute covers erf's error and the left tail below -5.6 that float erf returns as 0
        checkActivation("gelu", x -> cpu.gelu(x, false),
                x -> 0.5 * x * (1 + Reference.erf((float) x * (float) Math.sqrt(0.5))), 1e-7, 3e-7);
    }

    @Test
    void geluTanh() {
        checkActivation("gelu tanh", x -> cpu.gelu(x, true), Reference::geluTanh, 1e-7, 1e-6);
    }

    @Test
    void quickGelu() {
        checkActivation("quickGelu", cpu::quickGelu, x -> x * Reference.sigmoid(1.702f * (float) x), 1e-37, 4e-7);
    }

    @Test
    void scale() {
        checkActivation("scale", t -> cpu.scale(t, 0.18215f), x -> (float) x * 0.18215f, 0, 0);
    }

    @Test
    void geglu() {
        long seed = System.nanoTime();
        SplittableRandom rnd = new SplittableRandom(seed);
        int[][] shapes = {{2, 77, 2 * 40}, {1, 1, 2}, {3, 2 * 17}, {2, 5, 2 * 1280}, {2 * 33}};
        for (int[] s : shapes) {
            int numel = Arrays.stream(s).reduce(1, (a, b) -> a * b);
            float[] x = Reference.gaussian(rnd, numel, 0, 2);
            Tensor out = cpu.geglu(Tensor.of(x, s));
            int h = s[s.length - 1] / 2;
            int[] os = s.clone();
            os[os.length - 1] = h;
            assertEquals(Shape.of(os), out.shape());
            double[] want = new double[numel / 2];
            for (int r = 0; r < numel / (2 * h); r++) {
                for (int i = 0; i < h; i++) {
                    float a = x[r * 2 * h + i];
                    float g = x[r * 2 * h + h + i];
                    want[r * h + i] = a * 0.5 * g * (1 + Reference.erf(g * (float) Math.sqrt(0.5)));
                }
            }
            Reference.assertClose(want, out.toFloatArray(), 3e-7, 5e-7, "geglu seed " + seed + " " + Arrays.toString(s));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cpu.geglu(Tensor.zeros(2, 5)));
        assertTrue(e.getMessage().contains("geglu") && e.getMessage().contains("[2, 5]"), e.getMessage());
    }

    @Test
    void upsampleNearest() {
        long seed = System.nanoTime();
        SplittableRandom rnd = new SplittableRandom(seed);
        int[][] cases = {{2, 3, 5, 7, 10, 14}, {1, 2, 4, 4, 4, 4}, {1, 1, 5, 7, 7, 5}, {1, 3, 3, 3, 8, 9}, {2, 2, 6, 10, 4, 7},
                {1, 4, 64, 64, 128, 128}, {1, 1, 1, 1, 3, 2}};
        for (int[] k : cases) {
            int n = k[0], c = k[1], h = k[2], w = k[3], oh = k[4], ow = k[5];
            float[] x = Reference.gaussian(rnd, n * c * h * w, 0, 1);
            Tensor out = cpu.upsampleNearest(Tensor.of(x, n, c, h, w), oh, ow);
            assertEquals(Shape.of(n, c, oh, ow), out.shape());
            float[] got = out.toFloatArray();
            for (int p = 0; p < n * c; p++) {
                for (int y = 0; y < oh; y++) {
                    for (int xx = 0; xx < ow; xx++) {
                        float want = x[(p * h + torchNearest(y, h, oh)) * w + torchNearest(xx, w, ow)];
                        assertEquals(want, got[(p * oh + y) * ow + xx], "upsample " + Arrays.toString(k) + " at " + p + "," + y + "," + xx);
                    }
                }
            }
        }
        Tensor x = Tensor.of(new float[] {1, 2, 3, 4}, 1, 1, 2, 2);
        assertArrayEquals(new float[] {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, cpu.upsampleNearest2x(x).toFloatArray());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cpu.upsampleNearest(Tensor.zeros(2, 3, 4), 8, 8));
        assertTrue(e.getMessage().contains("upsampleNearest") && e.getMessage().contains("[2, 3, 4]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> cpu.upsampleNearest(x, 0, 4));
    }

    /** PyTorch's nearest source index, written out independently of the kernel. */
    private static int torchNearest(int dst, int in, int out) {
        if (out == in) {
            return dst;
        }
        if (out == 2 * in) {
            return dst >> 1;
        }
        return Math.min((int) Math.floor((float) dst * ((float) in / (float) out)), in - 1);
    }

    @Test
    void nearestIndexFollowsPyTorch() {
        // PyTorch (aten UpSample.h nearest_idx): identity, 2x by shift, else min(floorf(dst * (float) in / out), in - 1)
        // in float arithmetic. That equals the exact floor(dst·in/out) for 2·in ± 1 (the sizes the UNet's
        // output_size upsampling needs) but not for every pair (see the last assertion).
        for (int in = 1; in <= 200; in++) {
            for (int out = 1; out <= 2 * in + 2; out++) {
                int[] idx = Elementwise.nearestIndex(in, out);
                float scale = (float) in / (float) out;
                for (int o = 0; o < out; o++) {
                    int want = out == in ? o : out == 2 * in ? o >> 1 : Math.min((int) Math.floor((float) o * scale), in - 1);
                    assertEquals(want, idx[o], "in=" + in + " out=" + out + " dst=" + o);
                    if (out == 2 * in - 1 || out == 2 * in + 1 || out == in || out == 2 * in) {
                        assertEquals((int) ((long) o * in / out), idx[o], "exact floor, in=" + in + " out=" + out + " dst=" + o);
                    }
                }
            }
        }
        // a size pair where float and exact arithmetic part: PyTorch's float result wins
        assertEquals(0, Elementwise.nearestIndex(2, 82)[41], "41 * (2/82f) = 0.99999994 -> 0 (exact floor would give 1)");
    }

    /** Reference broadcast: b right-aligned against a, dims of size 1 repeated. */
    private static float[] refBinary(float[] a, int[] as, float[] b, int[] bs, boolean add) {
        float[] y = new float[a.length];
        int[] idx = new int[as.length];
        for (int i = 0; i < a.length; i++) {
            int rem = i;
            for (int d = as.length - 1; d >= 0; d--) {
                idx[d] = rem % as[d];
                rem /= as[d];
            }
            int bi = 0;
            for (int d = 0; d < bs.length; d++) {
                int ad = d + as.length - bs.length;
                bi = bi * bs[d] + (bs[d] == 1 ? 0 : idx[ad]);
            }
            y[i] = add ? a[i] + b[bi] : a[i] * b[bi];
        }
        return y;
    }

    @Test
    void addAndMulBroadcast() {
        long seed = System.nanoTime();
        SplittableRandom rnd = new SplittableRandom(seed);
        int[][][] cases = {
                {{2, 77, 320}, {320}}, {{2, 77, 320}, {2, 77, 320}}, {{2, 5, 9, 11}, {2, 5, 1, 1}}, {{2, 5, 9, 11}, {5, 1, 1}},
                {{3, 7, 13}, {7, 13}}, {{4, 17}, {1}}, {{4, 17}, {4, 1}}, {{2, 3, 4, 5}, {3, 1, 5}}, {{2, 3, 4, 5}, {1, 1, 1, 1}},
                {{1, 1, 5}, {1, 5}}, {{100_003}, {100_003}}, {{2, 320, 64, 64}, {2, 320, 1, 1}}, {{1}, {1}}, {{3, 1, 4}, {1, 4}}};
        for (int[][] k : cases) {
            int[] as = k[0];
            int[] bs = k[1];
            float[] a = Reference.gaussian(rnd, Arrays.stream(as).reduce(1, (x, y) -> x * y), 0, 1);
            float[] b = Reference.gaussian(rnd, Arrays.stream(bs).reduce(1, (x, y) -> x * y), 0, 1);
            for (boolean add : new boolean[] {true, false}) {
                Tensor out = add ? cpu.add(Tensor.of(a, as), Tensor.of(b, bs)) : cpu.mul(Tensor.of(a, as), Tensor.of(b, bs));
                assertEquals(Shape.of(as), out.shape());
                assertArrayEquals(refBinary(a, as, b, bs, add), out.toFloatArray(),
                        (add ? "add " : "mul ") + Arrays.toString(as) + " by " + Arrays.toString(bs) + " seed " + seed);
            }
        }
        // a BF16 segment bias, and a heap view with an offset
        float[] a = Reference.gaussian(rnd, 2 * 3 * 40, 0, 1);
        Tensor bias = NormsTest.segment(Reference.gaussian(rnd, 40, 0, 1), DType.BF16, 40);
        assertArrayEquals(refBinary(a, new int[] {2, 3, 40}, bias.toFloatArray(), new int[] {40}, true),
                cpu.add(Tensor.of(a, 2, 3, 40), bias).toFloatArray(), "segment bias");
        Tensor view = Tensor.of(a, 2, 3, 40).slice(1);
        float[] part = Arrays.copyOfRange(a, 120, 240);
        assertArrayEquals(refBinary(part, new int[] {3, 40}, bias.toFloatArray(), new int[] {40}, false),
                cpu.mul(view, bias).toFloatArray(), "view times segment");
    }

    @Test
    void binaryRejectsIncompatibleShapes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cpu.add(Tensor.zeros(2, 3, 4), Tensor.zeros(5)));
        assertTrue(e.getMessage().contains("add") && e.getMessage().contains("[2, 3, 4]") && e.getMessage().contains("[5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> cpu.mul(Tensor.zeros(3, 4), Tensor.zeros(2, 3, 4)));
        assertTrue(e.getMessage().contains("mul"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> cpu.add(Tensor.zeros(2, 3, 4), Tensor.zeros(2, 1, 3)));
        // b may not expand a: a dimension of 1 in a is not broadcast to b's size
        assertThrows(IllegalArgumentException.class, () -> cpu.add(Tensor.zeros(2, 1), Tensor.zeros(2, 4)));
    }

    @Test
    void concatChannels() {
        long seed = System.nanoTime();
        SplittableRandom rnd = new SplittableRandom(seed);
        // The last: parts of 2 and 4 uneven pieces each (at least 64Ki floats a piece), split over the pool's threads.
        int[][][] cases = {{{2, 3, 4, 5}, {2, 7, 4, 5}}, {{1, 4}, {1, 1}}, {{3, 2, 9}, {3, 5, 9}}, {{2, 0, 3}, {2, 2, 3}},
            {{2, 9, 127, 129}, {2, 20, 127, 129}}};
        for (int[][] k : cases) {
            int[] as = k[0];
            int[] bs = k[1];
            float[] a = Reference.gaussian(rnd, Arrays.stream(as).reduce(1, (x, y) -> x * y), 0, 1);
            float[] b = Reference.gaussian(rnd, Arrays.stream(bs).reduce(1, (x, y) -> x * y), 0, 1);
            Tensor out = cpu.concatChannels(Tensor.of(a, as), Tensor.of(b, bs));
            int[] os = as.clone();
            os[1] = as[1] + bs[1];
            assertEquals(Shape.of(os), out.shape());
            int inner = Arrays.stream(as).skip(2).reduce(1, (x, y) -> x * y);
            float[] got = out.toFloatArray();
            for (int n = 0; n < as[0]; n++) {
                for (int c = 0; c < os[1]; c++) {
                    for (int i = 0; i < inner; i++) {
                        float want = c < as[1] ? a[(n * as[1] + c) * inner + i] : b[(n * bs[1] + c - as[1]) * inner + i];
                        if (want != got[(n * os[1] + c) * inner + i]) {
                            assertEquals(want, got[(n * os[1] + c) * inner + i], "concat " + Arrays.deepToString(k)
                                    + " image " + n + " channel " + c + " element " + i);
                        }
                    }
                }
            }
        }
        Tensor seg = NormsTest.segment(new float[] {1, 2, 3, 4}, DType.F16, 1, 2, 2);
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, cpu.concatChannels(seg, Tensor.of(new float[] {5, 6}, 1, 1, 2)).toFloatArray());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cpu.concatChannels(Tensor.zeros(2, 3, 4), Tensor.zeros(2, 3, 5)));
        assertTrue(e.getMessage().contains("concatChannels") && e.getMessage().contains("[2, 3, 5]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> cpu.concatChannels(Tensor.zeros(2, 3), Tensor.zeros(1, 3)));
        assertThrows(IllegalArgumentException.class, () -> cpu.concatChannels(Tensor.zeros(4), Tensor.zeros(4)));
        assertThrows(IllegalArgumentException.class, () -> cpu.concatChannels(Tensor.zeros(2, 3), Tensor.zeros(2, 3, 1)));
    }
}
