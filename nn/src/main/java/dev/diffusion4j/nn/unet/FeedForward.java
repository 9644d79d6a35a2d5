package dev.diffusion4j.nn.unet;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.layers.LayerNorm;
import dev.diffusion4j.nn.layers.Linear;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;

/** diffusers' {@code FeedForward} with GEGLU: {@code net.0.proj} to 2 × inner, {@code a · gelu(gate)}, {@code net.2} back. */
final class FeedForward {
    private final Linear proj;
    private final Linear out;

    FeedForward(Backend backend, StateDict weights, String prefix, int dim) {
        int inner = dim * 4;
        this.proj = new Linear(backend, weights, prefix + ".net.0.proj", dim, inner * 2, true);
        this.out = new Linear(backend, weights, prefix + ".net.2", inner, dim, true);
    }

    /**
     * {@code net.2(geglu(net.0.proj(norm.forward(x)))) + x}: the block's pre-norm, GEGLU and the residual fused into the
     * two products; x is consumed (its storage may hold the result).
     */
    Tensor forward(LayerNorm norm, Tensor x) {
        return out.forward(norm.linearGeglu(x, proj), x, true);
    }
}
