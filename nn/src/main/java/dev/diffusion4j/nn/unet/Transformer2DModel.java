package dev.diffusion4j.nn.unet;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.layers.GroupNorm;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code Transformer2DModel} on an image: GroupNorm, {@code proj_in}, the transformer blocks over the
 * H·W positions, {@code proj_out}, plus the input.
 *
 * <p>{@code proj_in}/{@code proj_out} are 1×1 convolutions ({@code use_linear_projection: false}, SD 1.x) or linear
 * layers (SD 2.x); both are the same product over channels, so both run as a linear layer on {@code [B, HW, C]}.
 */
final class Transformer2DModel {
    private final Backend backend;
    private final GroupNorm norm;
    private final Tensor projInWeight;
    private final Tensor projInBias;
    private final Tensor projOutWeight;
    private final Tensor projOutBias;
    private final List<BasicTransformerBlock> blocks = new ArrayList<>();

    Transformer2DModel(Backend backend, StateDict weights, String prefix, int channels, int heads, int layers,
                       int crossAttentionDim, int groups, boolean linearProjection) {
        if (heads <= 0 || channels % heads != 0) {
            throw new IllegalArgumentException(prefix + ": " + channels + " channels cannot be split into " + heads + " heads");
        }
        this.backend = backend;
        this.norm = new GroupNorm(backend, weights, prefix + ".norm", groups, channels, 1e-6);
        this.projInWeight = projection(weights, prefix + ".proj_in.weight", channels, linearProjection);
        this.projInBias = weights.get(prefix + ".proj_in.bias", channels);
        this.projOutWeight = projection(weights, prefix + ".proj_out.weight", channels, linearProjection);
        this.projOutBias = weights.get(prefix + ".proj_out.bias", channels);
        for (int i = 0; i < layers; i++) {
            blocks.add(new BasicTransformerBlock(backend, weights, prefix + ".transformer_blocks." + i, channels, heads,
                    channels / heads, crossAttentionDim));
        }
    }

    private static Tensor projection(StateDict weights, String key, int channels, boolean linear) {
        return linear ? weights.get(key, channels, channels)
                : weights.get(key, channels, channels, 1, 1).reshape(channels, channels);
    }

    /**
     * x {@code [B, C, H, W]}, context {@code [B, S, crossAttentionDim]}. x is consumed: the caller never reads it again
     * (its storage may hold the output).
     */
    Tensor forward(Tensor x, Tensor context) {
        return forward(x, context, false);
    }

    /**
     * With {@code fromHalf}, x is the first half of a guided batch whose halves are the same ({@code [B/2, C, H, W]},
     * context still {@code [B, S, crossAttentionDim]}; see {@link GuidanceHalves}): the first block's self-attention
     * runs on it once, and the output is the whole batch.
     */
    Tensor forward(Tensor x, Tensor context, boolean fromHalf) {
        int h = x.dim(2);
        int w = x.dim(3);
        try (TensorScope scope = TensorScope.open()) {
            // proj_in reads the image in place, normalising it on the way (the normalised image is never stored);
            // proj_out writes the image and adds x: no transposed copies.
            Tensor seq = norm.linearFromChannels(x, projInWeight, projInBias);
            for (int i = 0; i < blocks.size(); i++) {
                // Each block consumes its input (seq is this scope's own: proj_in's output, then a block's).
                seq = blocks.get(i).forward(seq, context, fromHalf && i == 0);
            }
            Tensor residual = fromHalf ? GuidanceHalves.repeat(backend, x) : x;
            return scope.keep(backend.linearToChannels(seq, projOutWeight, projOutBias, residual, h, w, true));
        }
    }
}
