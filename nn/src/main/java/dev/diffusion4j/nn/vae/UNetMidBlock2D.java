package dev.diffusion4j.nn.vae;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.layers.Attention;
import dev.diffusion4j.nn.layers.GroupNorm;
import dev.diffusion4j.nn.layers.ResnetBlock2D;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code UNetMidBlock2D} as the VAE uses it: resnet, single-head self-attention over the H·W positions
 * (GroupNorm first, biases on q/k/v, residual), resnet; no time embedding.
 */
final class UNetMidBlock2D {
    private final ResnetBlock2D resnet0;
    private final GroupNorm attnNorm;
    private final Attention attention;
    private final ResnetBlock2D resnet1;

    UNetMidBlock2D(Backend backend, StateDict weights, String name, int channels, int groups) {
        this.resnet0 = new ResnetBlock2D(backend, weights, name + ".resnets.0", channels, channels, 0, groups, 1e-6, 1);
        this.attnNorm = new GroupNorm(backend, weights, name + ".attentions.0.group_norm", groups, channels, 1e-6);
        this.attention = new Attention(backend, weights, name + ".attentions.0", channels, channels, 1, channels, true);
        this.resnet1 = new ResnetBlock2D(backend, weights, name + ".resnets.1", channels, channels, 0, groups, 1e-6, 1);
    }

    Tensor forward(Tensor x) {
        Tensor h = resnet0.forward(x, null);
        // q/k/v read the normalised channels in place, the output projection writes channels and adds h
        h = attention.forwardChannels(attnNorm.forward(h), h);
        return resnet1.forward(h, null);
    }
}
