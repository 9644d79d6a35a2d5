package dev.diffusion4j.nn.unet;

import dev.diffusion4j.nn.Probe;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.layers.Downsample2D;
import dev.diffusion4j.nn.layers.ResnetBlock2D;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code DownBlock2D} and {@code CrossAttnDownBlock2D} (the same with a {@link Transformer2DModel} after
 * each resnet): resnets, then an optional stride-2 down-sampler. Every resnet (or attention) output and the
 * down-sampler's output are kept as skip tensors for the up path.
 */
public final class DownBlock2D {
    private final Backend backend;
    private final String name;
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Transformer2DModel> attentions = new ArrayList<>();
    private final Downsample2D downsampler;

    /** Loads the block's weights under {@code name}; see diffusers' {@code get_down_block}. */
    public DownBlock2D(Backend backend, StateDict weights, String name, boolean crossAttention, UNet2DConditionConfig c,
                int in, int out, int heads, int transformerLayers, boolean addDownsample) {
        this.backend = backend;
        this.name = name;
        for (int j = 0; j < c.layersPerBlock(); j++) {
            resnets.add(new ResnetBlock2D(backend, weights, name + ".resnets." + j, j == 0 ? in : out, out,
                    c.timeEmbedDim(), c.normNumGroups(), c.normEps(), c.resnetOutScaleFactor()));
            if (crossAttention) {
                attentions.add(new Transformer2DModel(backend, weights, name + ".attentions." + j, out, heads,
                        transformerLayers, c.crossAttentionDim(), c.normNumGroups(), c.useLinearProjection()));
            }
        }
        this.downsampler = addDownsample ? new Downsample2D(backend, weights, name + ".downsamplers.0", out, 1) : null;
    }

    /** Runs the block; appends its skip tensors to {@code skips} and returns the output. */
    public Tensor forward(Tensor x, Tensor tembSilu, Tensor context, List<Tensor> skips, Probe probe) {
        return forward(x, tembSilu, context, skips, probe, false);
    }

    /**
     * {@link #forward(Tensor, Tensor, Tensor, List, Probe)}; with {@code fromHalf}, x is a guided batch whose halves
     * are the same (see {@link GuidanceHalves}): the first resnet and the first transformer block's self-attention run
     * once, on its first half, and the block continues on the whole batch from there.
     */
    public Tensor forward(Tensor x, Tensor tembSilu, Tensor context, List<Tensor> skips, Probe probe,
                          boolean fromHalf) {
        try (TensorScope scope = TensorScope.open()) {
            Tensor h = fromHalf ? GuidanceHalves.firstHalf(x) : x;
            for (int j = 0; j < resnets.size(); j++) {
                boolean half = fromHalf && j == 0;
                h = resnets.get(j).forward(h, half && tembSilu != null ? GuidanceHalves.firstHalf(tembSilu) : tembSilu);
                if (!attentions.isEmpty()) {
                    h = attentions.get(j).forward(h, context, half);
                    probe.record(name + ".attentions." + j, h);
                } else if (half) {
                    h = GuidanceHalves.repeat(backend, h);
                }
                skips.add(scope.keep(h));
            }
            if (downsampler != null) {
                h = downsampler.forward(h);
                skips.add(h);
            }
            return scope.keep(h);
        }
    }

    int skipCount() {
        return resnets.size() + (downsampler != null ? 1 : 0);
    }
}
