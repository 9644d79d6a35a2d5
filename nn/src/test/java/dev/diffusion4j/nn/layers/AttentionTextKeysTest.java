package dev.diffusion4j.nn.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.ProfilingBackend;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The cross-attention keeps the keys and values of its last context only while that context holds the same floats. */
class AttentionTextKeysTest {
    private static final String TEXT_KEYS = "linear 14x12>2x16";

    @Test
    void theSameContextReusesItsKeysAndAChangedOneIsRecomputed() {
        Random rnd = new Random(3);
        StateDict weights = StateDict.madeOnDemand("random", (k, dims) -> AttentionChannelsTest.random(rnd, dims));
        ProfilingBackend be = new ProfilingBackend(CpuBackend.create(), true);
        Attention attention = new Attention(be, weights, "attn", 16, 12, 2, 8, false);
        Tensor x = AttentionChannelsTest.random(rnd, 2, 10, 16);
        Tensor context = AttentionChannelsTest.random(rnd, 2, 7, 12);

        float[] first = attention.forward(x, context).toFloatArray();
        float[] second = attention.forward(x, context).toFloatArray();
        assertArrayEquals(first, second);
        // to_k and to_v of the context (14 rows of 12 → 2 × 16) ran once for the two calls.
        assertEquals(1, be.stats().get(TEXT_KEYS).calls());

        // The same tensor changed in place: its keys are made again, and match a fresh layer's.
        context.setFlat(5, context.getFlat(5) + 1f);
        float[] changed = attention.forward(x, context).toFloatArray();
        assertEquals(2, be.stats().get(TEXT_KEYS).calls());
        StateDict same = StateDict.madeOnDemand("again", (k, dims) -> weights.get(k, dims));
        float[] fresh = new Attention(CpuBackend.create(), same, "attn", 16, 12, 2, 8, false).forward(x, context)
                .toFloatArray();
        assertArrayEquals(fresh, changed);
        boolean differs = false;
        for (int i = 0; i < first.length; i++) {
            differs |= first[i] != changed[i];
        }
        assertTrue(differs, "changing the context changed nothing");
    }
}
