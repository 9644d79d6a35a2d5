package dev.diffusion4j.nn.layers;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code Downsample2D} with a convolution: 3×3, stride 2. With {@code padding} 1 (the U-Net) the padding
 * is symmetric; with 0 (the VAE encoder) the input is padded by one row and column at the bottom and right only.
 */
public final class Downsample2D {
    private final Conv2d conv;
    private final int padding;

    /** Loads {@code prefix.conv}. */
    public Downsample2D(Backend backend, StateDict weights, String prefix, int channels, int padding) {
        this.conv = new Conv2d(backend, weights, prefix + ".conv", channels, channels, 3, 2, padding);
        this.padding = padding;
    }

    /** {@code [N, C, H, W]} → {@code [N, C, ⌈H/2⌉, ⌈W/2⌉]} (for padding 1). */
    public Tensor forward(Tensor x) {
        return padding == 0 ? conv.forward(x, 0, 1, 0, 1) : conv.forward(x);
    }
}
