package dev.diffusion4j.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** Every kernel gives bit-identical results on one thread and on several (chunks never share a reduction). */
class ThreadCountTest {
    @Test
    void resultsDoNotDependOnTheThreadCount() {
        long seed = System.nanoTime();
        SplittableRandom rnd = new SplittableRandom(seed);
        Tensor img = Tensor.of(Reference.gaussian(rnd, 2 * 64 * 24 * 40, 0.5, 2), 2, 64, 24, 40);
        Tensor seq = Tensor.of(Reference.gaussian(rnd, 2 * 300 * 320, 0, 1.5), 2, 300, 320);
        Tensor gamma = Tensor.of(Reference.gaussian(rnd, 64, 1, 0.2), 64);
        Tensor bias = Tensor.of(Reference.gaussian(rnd, 320, 0, 1), 320);
        Tensor chan = Tensor.of(Reference.gaussian(rnd, 2 * 64, 0, 1), 2, 64, 1, 1);
        java.util.List<Function<CpuBackend, Tensor>> ops = java.util.List.of(
                b -> b.groupNorm(img, 32, gamma, gamma, 1e-5f, true),
                b -> b.groupNorm(img, 8, null, null, 1e-6f, false),
                b -> b.layerNorm(seq, bias, bias, 1e-5f),
                b -> b.softmax(seq),
                b -> b.silu(seq),
                b -> b.gelu(seq, false),
                b -> b.gelu(seq, true),
                b -> b.quickGelu(seq),
                b -> b.geglu(seq),
                b -> b.scale(seq, 0.125f),
                b -> b.add(seq, bias),
                b -> b.mul(img, chan),
                b -> b.add(seq, seq),
                b -> b.upsampleNearest(img, 37, 81),
                b -> b.upsampleNearest2x(img));
        try (ComputePool one = new ComputePool(1); ComputePool many = new ComputePool(4)) {
            CpuBackend a = new CpuBackend(one);
            CpuBackend b = new CpuBackend(many);
            for (int i = 0; i < ops.size(); i++) {
                Tensor x = ops.get(i).apply(a);
                Tensor y = ops.get(i).apply(b);
                assertEquals(x.shape(), y.shape());
                assertArrayEquals(x.toFloatArray(), y.toFloatArray(), "op #" + i + " differs between 1 and 4 threads, seed " + seed);
            }
        }
    }

    @Test
    void rankZeroAndEmptyTensors() {
        CpuBackend cpu = new CpuBackend(new ComputePool(1));
        Tensor s = Tensor.of(new float[] {2f}, new int[0]);
        assertEquals(2f * (float) Reference.sigmoid(2), cpu.silu(s).getFlat(0), 1e-6f);
        assertEquals(6f, cpu.add(s, Tensor.of(new float[] {4f}, new int[0])).getFlat(0));
        assertEquals(8f, cpu.mul(s, Tensor.of(new float[] {4f}, 1)).getFlat(0), "a [1] broadcast over a scalar");
        assertEquals(0, cpu.silu(Tensor.zeros(0, 5)).numel());
        assertEquals(0, cpu.softmax(Tensor.zeros(3, 0)).numel());
        assertEquals(0, cpu.layerNorm(Tensor.zeros(0, 8), null, null, 1e-5f).numel());
        assertEquals(0, cpu.groupNorm(Tensor.zeros(0, 8, 3, 3), 4, null, null, 1e-5f, false).numel());
        assertEquals(0, cpu.add(Tensor.zeros(0, 8), Tensor.zeros(8)).numel());
    }
}
