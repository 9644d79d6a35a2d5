package dev.diffusion4j.nn.layers;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;

/** PyTorch's {@code nn.GroupNorm} (affine), with SiLU fused on request. */
public final class GroupNorm {
    private final Backend backend;
    private final int groups;
    private final float eps;
    private final Tensor weight;
    private final Tensor bias;

    /** Loads {@code prefix.weight} and {@code prefix.bias} of {@code channels} entries. */
    public GroupNorm(Backend backend, StateDict weights, String prefix, int groups, int channels, double eps) {
        if (groups <= 0 || channels % groups != 0) {
            throw new IllegalArgumentException(prefix + ": " + channels + " channels cannot be split into " + groups + " groups");
        }
        this.backend = backend;
        this.groups = groups;
        this.eps = (float) eps;
        this.weight = weights.get(prefix + ".weight", channels);
        this.bias = weights.get(prefix + ".bias", channels);
    }

    /** Normalises {@code [N, C, ...]}. */
    public Tensor forward(Tensor x) {
        return backend.groupNorm(x, groups, weight, bias, eps, false);
    }

    /**
     * {@code conv2d(SiLU(this(x [+ channelAddend]))) [+ residual]} through the backend's fused op; {@code channelAddend}
     * {@code [N, C]} or null.
     */
    Tensor convolveSilu(Tensor x, Tensor channelAddend, Tensor convWeight, Tensor convBias, int padding,
                        Tensor residual, boolean residualIsScratch) {
        return backend.groupNormConv2d(x, channelAddend, groups, weight, bias, eps, true, convWeight, convBias, padding,
                residual, residualIsScratch);
    }

    /**
     * {@code linearFromChannels(this(x), projWeight, projBias)} through the backend's fused op: a transformer's
     * {@code norm} and {@code proj_in}, the normalised image never stored.
     */
    public Tensor linearFromChannels(Tensor x, Tensor projWeight, Tensor projBias) {
        return backend.groupNormLinearFromChannels(x, groups, weight, bias, eps, projWeight, projBias);
    }

    /** Normalises, then applies SiLU (one fused kernel). */
    public Tensor forwardSilu(Tensor x) {
        return backend.groupNorm(x, groups, weight, bias, eps, true);
    }
}
