package dev.diffusion4j.nn.unet;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.layers.ResnetBlock2D;
import dev.diffusion4j.nn.layers.Upsample2D;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code UpBlock2D} and {@code CrossAttnUpBlock2D}: each resnet takes the input concatenated (on
 * channels) with the latest remaining skip tensor; then an optional nearest up-sampler with a convolution.
 */
final class UpBlock2D {
    private final Backend backend;
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Transformer2DModel> attentions = new ArrayList<>();
    private final Upsample2D upsampler;

    /**
     * @param in channels of the skip tensor of this block's last resnet ({@code input_channel} in diffusers)
     * @param prevOut channels coming from the block below
     */
    UpBlock2D(Backend backend, StateDict weights, String name, boolean crossAttention, UNet2DConditionConfig c,
              int in, int out, int prevOut, int heads, int transformerLayers, boolean addUpsample) {
        this.backend = backend;
        int layers = c.layersPerBlock() + 1;
        for (int j = 0; j < layers; j++) {
            int skipChannels = j == layers - 1 ? in : out;
            int resnetIn = j == 0 ? prevOut : out;
            resnets.add(new ResnetBlock2D(backend, weights, name + ".resnets." + j, resnetIn + skipChannels, out,
                    c.timeEmbedDim(), c.normNumGroups(), c.normEps(), c.resnetOutScaleFactor()));
            if (crossAttention) {
                attentions.add(new Transformer2DModel(backend, weights, name + ".attentions." + j, out, heads,
                        transformerLayers, c.crossAttentionDim(), c.normNumGroups(), c.useLinearProjection()));
            }
        }
        this.upsampler = addUpsample ? new Upsample2D(backend, weights, name + ".upsamplers.0", out) : null;
    }

    int skipCount() {
        return resnets.size();
    }

    /**
     * Consumes {@link #skipCount()} tensors from the end of {@code skips}; {@code upsampleH/W} is the size to
     * up-sample to (ignored without an up-sampler).
     */
    Tensor forward(Tensor x, Tensor tembSilu, Tensor context, List<Tensor> skips, int upsampleH, int upsampleW) {
        try (TensorScope scope = TensorScope.open()) {
            Tensor h = x;
            for (int j = 0; j < resnets.size(); j++) {
                Tensor skip = skips.removeLast();
                h = resnets.get(j).forward(backend.concatChannels(h, skip), tembSilu);
                if (!attentions.isEmpty()) {
                    h = attentions.get(j).forward(h, context);
                }
            }
            return scope.keep(upsampler != null ? upsampler.forward(h, upsampleH, upsampleW) : h);
        }
    }

    boolean hasUpsampler() {
        return upsampler != null;
    }
}
