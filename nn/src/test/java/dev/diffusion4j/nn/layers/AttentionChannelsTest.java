package dev.diffusion4j.nn.layers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@link Attention#forwardChannels} equals transposing to a sequence, {@link Attention#forward} and back. */
class AttentionChannelsTest {
    private static final CpuBackend CPU = CpuBackend.create();

    @ParameterizedTest(name = "b={0} c={1} {2}x{3} heads={4} residual={5}")
    @CsvSource({"1, 32, 8, 8, 1, true", "2, 24, 5, 7, 1, true", "1, 16, 3, 11, 2, false"})
    void matchesTheTransposedSequence(int b, int c, int h, int w, int heads, boolean withResidual) {
        long seed = 7L * c + 13L * h + w + heads;
        Random rnd = new Random(seed);
        StateDict weights = StateDict.madeOnDemand("random", (k, dims) -> random(rnd, dims));
        Attention attention = new Attention(CPU, weights, "attn", c, c, heads, c / heads, true);
        Tensor x = random(rnd, b, c, h, w);
        Tensor residual = withResidual ? random(rnd, b, c, h, w) : null;
        Tensor seq = CPU.transpose(x.reshape(b, c, h * w));
        Tensor want = CPU.transpose(attention.forward(seq, null)).reshape(b, c, h, w);
        if (withResidual) {
            want = CPU.add(want, residual);
        }
        Tensor got = attention.forwardChannels(x, residual);
        assertEquals(want.shape(), got.shape());
        float[] wa = want.toFloatArray();
        float[] ga = got.toFloatArray();
        for (int i = 0; i < wa.length; i++) {
            assertEquals(wa[i], ga[i], 1e-5 * (1 + Math.abs(wa[i])), "seed " + seed + " element " + i);
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"3", "5"})
    void notAnImageIsNamed(int rank) {
        Random rnd = new Random(1);
        StateDict weights = StateDict.madeOnDemand("random", (k, dims) -> random(rnd, dims));
        Attention attention = new Attention(CPU, weights, "attn", 8, 8, 1, 8, true);
        Tensor x = rank == 3 ? Tensor.zeros(1, 4, 8) : Tensor.zeros(1, 8, 2, 2, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> attention.forwardChannels(x, null));
        assertTrue(e.getMessage().contains(x.shape().toString()), e.getMessage());
    }

    /** Normal values (σ 0.3) of the given shape; shared with the other attention tests. */
    static Tensor random(Random rnd, int... dims) {
        int n = 1;
        for (int d : dims) {
            n *= d;
        }
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (rnd.nextGaussian() * 0.3);
        }
        return Tensor.of(a, dims);
    }
}
