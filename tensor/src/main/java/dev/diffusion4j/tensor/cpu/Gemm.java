package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;

/** Matrix multiplication: packed, cache-blocked, register-tiled (Vector API). */
public final class Gemm {
    private Gemm() {
    }

    /** See {@link dev.diffusion4j.tensor.Backend#matmul}. */
    public static Tensor matmul(ComputePool pool, Tensor a, boolean transposeA, Tensor b, boolean transposeB) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** See {@link dev.diffusion4j.tensor.Backend#linear}. */
    public static Tensor linear(ComputePool pool, Tensor x, Tensor weight, Tensor bias) {
        throw new UnsupportedOperationException("not implemented yet");
    }
}
