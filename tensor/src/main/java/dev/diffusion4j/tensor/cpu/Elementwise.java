package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;

/** Activations, element-wise arithmetic, resizing and concatenation. */
public final class Elementwise {
    private Elementwise() {
    }

    /** See {@link dev.diffusion4j.tensor.Backend#silu}. */
    public static Tensor silu(ComputePool pool, Tensor x) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** See {@link dev.diffusion4j.tensor.Backend#gelu}. */
    public static Tensor gelu(ComputePool pool, Tensor x, boolean tanhApproximation) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** See {@link dev.diffusion4j.tensor.Backend#quickGelu}. */
    public static Tensor quickGelu(ComputePool pool, Tensor x) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** See {@link dev.diffusion4j.tensor.Backend#geglu}. */
    public static Tensor geglu(ComputePool pool, Tensor x) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** See {@link dev.diffusion4j.tensor.Backend#upsampleNearest}. */
    public static Tensor upsampleNearest(ComputePool pool, Tensor x, int outH, int outW) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** See {@link dev.diffusion4j.tensor.Backend#add}. */
    public static Tensor add(ComputePool pool, Tensor a, Tensor b) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** See {@link dev.diffusion4j.tensor.Backend#mul}. */
    public static Tensor mul(ComputePool pool, Tensor a, Tensor b) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** See {@link dev.diffusion4j.tensor.Backend#scale}. */
    public static Tensor scale(ComputePool pool, Tensor a, float s) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** See {@link dev.diffusion4j.tensor.Backend#concatChannels}. */
    public static Tensor concatChannels(Tensor a, Tensor b) {
        throw new UnsupportedOperationException("not implemented yet");
    }
}
