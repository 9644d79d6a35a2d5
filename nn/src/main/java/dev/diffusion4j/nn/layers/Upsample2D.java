package dev.diffusion4j.nn.layers;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;

/** diffusers' {@code Upsample2D} with a convolution: nearest-neighbour resize, then a 3×3 convolution. */
public final class Upsample2D {
    private final Backend backend;
    private final Conv2d conv;

    /** Loads {@code prefix.conv}. */
    public Upsample2D(Backend backend, StateDict weights, String prefix, int channels) {
        this.backend = backend;
        this.conv = new Conv2d(backend, weights, prefix + ".conv", channels, channels, 3, 1, 1);
    }

    /** Doubles the spatial size. */
    public Tensor forward(Tensor x) {
        return forward(x, x.dim(2) * 2, x.dim(3) * 2);
    }

    /** Resizes to {@code outH × outW} (the skip tensor's size when the latent size is odd), then convolves. */
    public Tensor forward(Tensor x, int outH, int outW) {
        return conv.forwardUpsampled(x, outH, outW);
    }
}
