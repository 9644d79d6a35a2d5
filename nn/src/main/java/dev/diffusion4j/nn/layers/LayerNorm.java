package dev.diffusion4j.nn.layers;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;

/** PyTorch's {@code nn.LayerNorm} over the last dimension (affine). */
public final class LayerNorm {
    private final Backend backend;
    private final float eps;
    private final Tensor weight;
    private final Tensor bias;

    /** Loads {@code prefix.weight} and {@code prefix.bias} of {@code dim} entries. */
    public LayerNorm(Backend backend, StateDict weights, String prefix, int dim, double eps) {
        this.backend = backend;
        this.eps = (float) eps;
        this.weight = weights.get(prefix + ".weight", dim);
        this.bias = weights.get(prefix + ".bias", dim);
    }

    /** Normalises the last dimension of {@code x}. */
    public Tensor forward(Tensor x) {
        return backend.layerNorm(x, weight, bias, eps);
    }
}
