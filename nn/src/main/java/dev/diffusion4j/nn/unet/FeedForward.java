package dev.diffusion4j.nn.unet;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.layers.Linear;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;

/** diffusers' {@code FeedForward} with GEGLU: {@code net.0.proj} to 2 × inner, {@code a · gelu(gate)}, {@code net.2} back. */
final class FeedForward {
    private final Backend backend;
    private final Linear proj;
    private final Linear out;

    FeedForward(Backend backend, StateDict weights, String prefix, int dim) {
        this.backend = backend;
        int inner = dim * 4;
        this.proj = new Linear(backend, weights, prefix + ".net.0.proj", dim, inner * 2, true);
        this.out = new Linear(backend, weights, prefix + ".net.2", inner, dim, true);
    }

    Tensor forward(Tensor x) {
        return out.forward(backend.geglu(proj.forward(x)));
    }
}
