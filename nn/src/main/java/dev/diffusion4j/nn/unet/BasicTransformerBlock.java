package dev.diffusion4j.nn.unet;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.layers.Attention;
import dev.diffusion4j.nn.layers.LayerNorm;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;

/** diffusers' {@code BasicTransformerBlock}: self-attention, cross-attention on the text, GEGLU feed-forward, each pre-normed and residual. */
final class BasicTransformerBlock {
    private final Backend backend;
    private final LayerNorm norm1;
    private final Attention attn1;
    private final LayerNorm norm2;
    private final Attention attn2;
    private final LayerNorm norm3;
    private final FeedForward ff;

    BasicTransformerBlock(Backend backend, StateDict weights, String prefix, int dim, int heads, int dimHead,
                          int crossAttentionDim) {
        this.backend = backend;
        this.norm1 = new LayerNorm(backend, weights, prefix + ".norm1", dim, 1e-5);
        this.attn1 = new Attention(backend, weights, prefix + ".attn1", dim, dim, heads, dimHead, false);
        this.norm2 = new LayerNorm(backend, weights, prefix + ".norm2", dim, 1e-5);
        this.attn2 = new Attention(backend, weights, prefix + ".attn2", dim, crossAttentionDim, heads, dimHead, false);
        this.norm3 = new LayerNorm(backend, weights, prefix + ".norm3", dim, 1e-5);
        this.ff = new FeedForward(backend, weights, prefix + ".ff", dim);
    }

    /**
     * x {@code [B, HW, dim]}, context {@code [B, 77, crossAttentionDim]}; with {@code fromHalf}, x is the first half
     * of a guided batch whose halves are the same ({@code [B/2, HW, dim]}; see {@link GuidanceHalves}): the
     * self-attention runs on it once and its output is copied into both halves before the text comes in. x is consumed:
     * the caller never reads it again, and its storage may hold the self-attention's output.
     */
    Tensor forward(Tensor x, Tensor context, boolean fromHalf) {
        try (TensorScope scope = TensorScope.open()) {
            // Each residual is added by the block's output projection, onto the residual's own storage where the backend
            // can (the residuals are dead after: a fresh output would be one more stream of writes).
            // Each norm is applied by the projections that read it (the normalised input is never stored).
            Tensor h = attn1.forward(norm1, x, null, x, true);
            if (fromHalf) {
                h = GuidanceHalves.repeat(backend, h);
            }
            h = attn2.forward(norm2, h, context, h, true);
            return scope.keep(ff.forward(norm3, h));
        }
    }
}
