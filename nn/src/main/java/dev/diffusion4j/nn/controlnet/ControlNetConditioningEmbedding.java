package dev.diffusion4j.nn.controlnet;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.layers.Conv2d;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code ControlNetConditioningEmbedding}: a small conv stack taking the control image (pixel size)
 * down to the latent size (one stride-2 conv per stage after the first) with SiLU after every conv but the last,
 * then a (zero-initialised) {@code conv_out} to the U-Net's first block width.
 */
final class ControlNetConditioningEmbedding {
    private final Backend backend;
    private final Conv2d convIn;
    private final List<Conv2d> blocks = new ArrayList<>();
    private final Conv2d convOut;

    ControlNetConditioningEmbedding(Backend backend, StateDict weights, String name, int conditioningChannels,
                                    int[] channels, int embeddingChannels) {
        this.backend = backend;
        this.convIn = new Conv2d(backend, weights, name + ".conv_in", conditioningChannels, channels[0], 3, 1, 1);
        for (int i = 0; i < channels.length - 1; i++) {
            blocks.add(new Conv2d(backend, weights, name + ".blocks." + (2 * i), channels[i], channels[i], 3, 1, 1));
            blocks.add(new Conv2d(backend, weights, name + ".blocks." + (2 * i + 1), channels[i], channels[i + 1], 3, 2, 1));
        }
        this.convOut = new Conv2d(backend, weights, name + ".conv_out", channels[channels.length - 1], embeddingChannels, 3, 1, 1);
    }

    /** Control image {@code [B, C, H, W]} → {@code [B, embeddingChannels, H / 2^stages, W / 2^stages]}. */
    Tensor forward(Tensor cond) {
        Tensor h = backend.silu(convIn.forward(cond));
        for (Conv2d block : blocks) {
            h = backend.silu(block.forward(h));
        }
        return convOut.forward(h);
    }

    /** How many stride-2 convs the stack has. */
    int downsamplings() {
        return blocks.size() / 2;
    }
}
