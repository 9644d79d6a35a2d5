package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;

/** Normalisations and softmax. */
public final class Norms {
    private Norms() {
    }

    /** See {@link dev.diffusion4j.tensor.Backend#groupNorm}. */
    public static Tensor groupNorm(ComputePool pool, Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** See {@link dev.diffusion4j.tensor.Backend#layerNorm}. */
    public static Tensor layerNorm(ComputePool pool, Tensor x, Tensor gamma, Tensor beta, float eps) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** See {@link dev.diffusion4j.tensor.Backend#softmax}. */
    public static Tensor softmax(ComputePool pool, Tensor x) {
        throw new UnsupportedOperationException("not implemented yet");
    }
}
