package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;

/** Multi-head scaled dot-product attention in tiles with an online softmax. */
public final class Attention {
    private Attention() {
    }

    /** See {@link dev.diffusion4j.tensor.Backend#attention}. */
    public static Tensor attention(ComputePool pool, Tensor q, Tensor k, Tensor v, int heads, float scale, boolean causal) {
        throw new UnsupportedOperationException("not implemented yet");
    }
}
