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

    /**
     * The outputs of {@code layers} (of this norm's backend) over {@code forward(x)}, through the backend's fused op:
     * x is normalised while it is read, and layers of the same input run as one product where the backend can.
     */
    public Tensor[] linears(Tensor x, Linear... layers) {
        Tensor[] weights = new Tensor[layers.length];
        Tensor[] biases = new Tensor[layers.length];
        for (int i = 0; i < layers.length; i++) {
            weights[i] = layers[i].weight();
            biases[i] = layers[i].bias();
        }
        return backend.layerNormLinears(x, weight, bias, eps, weights, biases);
    }

    /** {@code layer.forwardGeglu(forward(x))} through the backend's fused op (the normalised x is never stored). */
    public Tensor linearGeglu(Tensor x, Linear layer) {
        return backend.layerNormLinearGeglu(x, weight, bias, eps, layer.weight(), layer.bias());
    }
}
