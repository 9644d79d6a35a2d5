package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;

/** 2-D convolution (NCHW). */
public final class Conv2d {
    private Conv2d() {
    }

    /** See {@link dev.diffusion4j.tensor.Backend#conv2d(Tensor, Tensor, Tensor, int, int, int, int, int)}. */
    public static Tensor conv2d(ComputePool pool, Tensor x, Tensor weight, Tensor bias, int stride,
                                int padTop, int padBottom, int padLeft, int padRight) {
        throw new UnsupportedOperationException("not implemented yet");
    }
}
