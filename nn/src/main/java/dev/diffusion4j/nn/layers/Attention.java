package dev.diffusion4j.nn.layers;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code Attention}: {@code to_q}, {@code to_k}, {@code to_v}, multi-head scaled dot-product attention
 * (tiled in the backend), then {@code to_out.0}. Self-attention when no context is given, cross-attention otherwise.
 */
public final class Attention {
    private final Backend backend;
    private final int heads;
    private final float scale;
    private final Linear toQ;
    private final Linear toK;
    private final Linear toV;
    private final Linear toOut;

    /**
     * @param queryDim channels of the input
     * @param contextDim channels of the context ({@code cross_attention_dim}), or {@code queryDim} for self-attention
     * @param heads number of heads
     * @param dimHead channels per head
     * @param qkvBias whether {@code to_q/k/v} have biases (the VAE's do, the U-Net's do not)
     */
    public Attention(Backend backend, StateDict weights, String prefix, int queryDim, int contextDim, int heads,
                     int dimHead, boolean qkvBias) {
        this.backend = backend;
        this.heads = heads;
        this.scale = (float) (1.0 / Math.sqrt(dimHead));
        int inner = heads * dimHead;
        this.toQ = new Linear(backend, weights, prefix + ".to_q", queryDim, inner, qkvBias);
        this.toK = new Linear(backend, weights, prefix + ".to_k", contextDim, inner, qkvBias);
        this.toV = new Linear(backend, weights, prefix + ".to_v", contextDim, inner, qkvBias);
        this.toOut = new Linear(backend, weights, prefix + ".to_out.0", inner, queryDim, true);
    }

    /** x {@code [B, T, queryDim]}, context {@code [B, S, contextDim]} or null → {@code [B, T, queryDim]}. */
    public Tensor forward(Tensor x, Tensor context) {
        Tensor kv = context == null ? x : context;
        Tensor q = toQ.forward(x);
        Tensor k = toK.forward(kv);
        Tensor v = toV.forward(kv);
        return toOut.forward(backend.attention(q, k, v, heads, scale, false));
    }
}
