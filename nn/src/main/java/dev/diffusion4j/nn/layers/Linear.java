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
}
