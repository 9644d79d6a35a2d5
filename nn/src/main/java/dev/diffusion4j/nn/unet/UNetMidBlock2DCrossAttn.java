package dev.diffusion4j.nn.unet;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.layers.ResnetBlock2D;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;
import java.util.ArrayList;
import java.util.List;

/** diffusers' {@code UNetMidBlock2DCrossAttn}: a resnet, then (attention, resnet) pairs. */
public final class UNetMidBlock2DCrossAttn {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Transformer2DModel> attentions = new ArrayList<>();

    /** Loads the block's weights under {@code name}. */
    public UNetMidBlock2DCrossAttn(Backend backend, StateDict weights, String name, UNet2DConditionConfig c, int channels,
                            int heads, int transformerLayers) {
        int layers = 1;
        for (int j = 0; j <= layers; j++) {
            resnets.add(new ResnetBlock2D(backend, weights, name + ".resnets." + j, channels, channels, c.timeEmbedDim(),
                    c.normNumGroups(), c.normEps(), c.midBlockScaleFactor()));
        }
        for (int j = 0; j < layers; j++) {
            attentions.add(new Transformer2DModel(backend, weights, name + ".attentions." + j, channels, heads,
                    transformerLayers, c.crossAttentionDim(), c.normNumGroups(), c.useLinearProjection()));
        }
    }

    /** Runs the block on {@code x}; {@code tembSilu} is SiLU of the time embedding. */
    public Tensor forward(Tensor x, Tensor tembSilu, Tensor context) {
        try (TensorScope scope = TensorScope.open()) {
            Tensor h = resnets.get(0).forward(x, tembSilu);
            for (int j = 0; j < attentions.size(); j++) {
                h = attentions.get(j).forward(h, context);
                h = resnets.get(j + 1).forward(h, tembSilu);
            }
            return scope.keep(h);
        }
    }
}
