package dev.diffusion4j.nn.layers;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;

/** PyTorch's {@code nn.Conv2d} with a square kernel and zero padding: weight {@code [out, in, k, k]}, bias {@code [out]}. */
public final class Conv2d {
    private final Backend backend;
    private final Tensor weight;
    private final Tensor bias;
    private final int stride;
    private final int padding;

    /** Loads {@code prefix.weight} and {@code prefix.bias}. */
    public Conv2d(Backend backend, StateDict weights, String prefix, int in, int out, int kernel, int stride, int padding) {
        this.backend = backend;
        this.weight = weights.get(prefix + ".weight", out, in, kernel, kernel);
        this.bias = weights.get(prefix + ".bias", out);
        this.stride = stride;
        this.padding = padding;
    }

    /** x {@code [N, in, H, W]} → {@code [N, out, H', W']}. */
    public Tensor forward(Tensor x) {
        return backend.conv2d(x, weight, bias, stride, padding);
    }

    /**
     * {@code conv(SiLU(norm(x))) [+ residual]} (stride-1 convolutions only): one backend op that normalises while it
     * reads, so the normalised tensor is never stored.
     */
    public Tensor forwardNormSilu(GroupNorm norm, Tensor x, Tensor residual) {
        return forwardNormSilu(norm, x, residual, false);
    }

    /** As {@link #forwardNormSilu(GroupNorm, Tensor, Tensor)}; the result may reuse the storage of a scratch residual. */
    public Tensor forwardNormSilu(GroupNorm norm, Tensor x, Tensor residual, boolean residualIsScratch) {
        return forwardNormSilu(norm, x, null, residual, residualIsScratch);
    }

    /**
     * As {@link #forwardNormSilu(GroupNorm, Tensor, Tensor, boolean)} of {@code x + channelAddend}, {@code channelAddend}
     * {@code [N, C]} broadcast over the pixels (or null): the sum is normalised without being stored.
     */
    public Tensor forwardNormSilu(GroupNorm norm, Tensor x, Tensor channelAddend, Tensor residual,
                                  boolean residualIsScratch) {
        if (stride != 1) {
            Tensor in = channelAddend == null ? x
                    : backend.add(x, channelAddend.reshape(channelAddend.dim(0), channelAddend.dim(1), 1, 1));
            Tensor y = forward(norm.forwardSilu(in));
            return residual == null ? y : backend.add(y, residual);
        }
        return norm.convolveSilu(x, channelAddend, weight, bias, padding, residual, residualIsScratch);
    }

    /** {@code conv(upsampleNearest(x, outH, outW))} as one backend op (stride-1 convolutions only). */
    public Tensor forwardUpsampled(Tensor x, int outH, int outW) {
        if (stride != 1) {
            return forward(backend.upsampleNearest(x, outH, outW));
        }
        return backend.upsampleConv2d(x, outH, outW, weight, bias, padding);
    }

    /** With explicit padding per side (the VAE encoder's down-sampling pads only right and bottom). */
    public Tensor forward(Tensor x, int padTop, int padBottom, int padLeft, int padRight) {
        return backend.conv2d(x, weight, bias, stride, padTop, padBottom, padLeft, padRight);
    }
}
