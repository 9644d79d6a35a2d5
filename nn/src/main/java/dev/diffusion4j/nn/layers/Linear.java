package dev.diffusion4j.nn.layers;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;

/** {@code y = x · Wᵀ + b}, PyTorch's {@code nn.Linear}: weight {@code [out, in]}. */
public final class Linear {
    private final Backend backend;
    private final Tensor weight;
    private final Tensor bias;

    /** Loads {@code prefix.weight} (and {@code prefix.bias} when {@code hasBias}) with the given sizes. */
    public Linear(Backend backend, StateDict weights, String prefix, int in, int out, boolean hasBias) {
        this.backend = backend;
        this.weight = weights.get(prefix + ".weight", out, in);
        this.bias = hasBias ? weights.get(prefix + ".bias", out) : null;
    }

    /** x {@code [..., in]} → {@code [..., out]}. */
    public Tensor forward(Tensor x) {
        return backend.linear(x, weight, bias);
    }

    /** {@code forward(x) + residual} (residual {@code [..., out]}), the sum fused into the product. */
    public Tensor forward(Tensor x, Tensor residual) {
        return backend.linear(x, weight, bias, residual);
    }

    /**
     * {@link #forward(Tensor, Tensor)}; with {@code residualIsScratch} (the caller never reads {@code residual} again)
     * the result may be written into the residual's storage.
     */
    public Tensor forward(Tensor x, Tensor residual, boolean residualIsScratch) {
        return backend.linear(x, weight, bias, residual, residualIsScratch);
    }

    /**
     * This layer over the channels of an image: x {@code [N, in, H, W]} → the sequence {@code [N, H·W, out]},
     * read in place where the backend can (no transpose).
     */
    public Tensor forwardFromChannels(Tensor x) {
        return backend.linearFromChannels(x, weight, bias);
    }

    /**
     * The way back: x {@code [N, H·W, in]} → the image {@code [N, out, H, W]} plus {@code residual} (of that
     * shape, or null), written straight from the product where the backend can.
     */
    public Tensor forwardToChannels(Tensor x, Tensor residual, int height, int width) {
        return backend.linearToChannels(x, weight, bias, residual, height, width);
    }

    /** GEGLU of this layer's output ({@code [..., 2·h]} → {@code [..., h]}), never storing the output itself. */
    public Tensor forwardGeglu(Tensor x) {
        return backend.linearGeglu(x, weight, bias);
    }

    Tensor weight() {
        return weight;
    }

    Tensor bias() {
        return bias;
    }

    /**
     * The outputs of several layers of the same input and backend ({@code to_q}, {@code to_k}, {@code to_v}),
     * computed as one product where the backend can.
     */
    public static Tensor[] forward(Tensor x, Linear... layers) {
        Tensor[] weights = new Tensor[layers.length];
        Tensor[] biases = new Tensor[layers.length];
        for (int i = 0; i < layers.length; i++) {
            weights[i] = layers[i].weight;
            biases[i] = layers[i].bias;
        }
        return layers[0].backend.linears(x, weights, biases);
    }
}
