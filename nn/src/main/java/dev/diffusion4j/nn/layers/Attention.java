package dev.diffusion4j.nn.layers;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;
import java.lang.ref.SoftReference;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicReference;

/**
 * diffusers' {@code Attention}: {@code to_q}, {@code to_k}, {@code to_v}, multi-head scaled dot-product attention
 * (tiled in the backend), then {@code to_out.0}. Self-attention when no context is given, cross-attention otherwise.
 *
 * <p>A denoising loop gives the cross-attention the same text at every step, so the keys and values of the last
 * context are kept and used again while the context holds the same floats (compared element by element on every
 * call, so a context changed in place is never served stale values). They are held softly (SDXL's 70 cross-attention
 * layers keep about 200 MB with the context copies): under memory pressure they are made again. Thread-safe:
 * concurrent calls with different contexts only replace each other's entry.
 */
public final class Attention {
    private final Backend backend;
    private final int heads;
    private final float scale;
    private final Linear toQ;
    private final Linear toK;
    private final Linear toV;
    private final Linear toOut;
    /** Keys and values of the last cross-attention context, with a copy of that context's floats. */
    private final AtomicReference<SoftReference<TextKeys>> lastText = new AtomicReference<>();

    private record TextKeys(Shape shape, float[] context, Tensor k, Tensor v) {
    }

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
        return forward(x, context, null);
    }

    /**
     * {@link #forward(Tensor, Tensor)} plus {@code residual} ({@code [B, T, queryDim]} or null), added by the
     * output projection. The projections that share an input run as one product.
     */
    public Tensor forward(Tensor x, Tensor context, Tensor residual) {
        return forward(x, context, residual, false);
    }

    /**
     * {@link #forward(Tensor, Tensor, Tensor)}; with {@code residualIsScratch} (the caller never reads {@code residual}
     * again) the result may be written into the residual's storage.
     */
    public Tensor forward(Tensor x, Tensor context, Tensor residual, boolean residualIsScratch) {
        return forward(null, x, context, residual, residualIsScratch);
    }

    /**
     * {@link #forward(Tensor, Tensor, Tensor, boolean)} of {@code norm.forward(x)} (norm null: of x), the normalisation
     * fused into the projections that read it (a transformer block's pre-norm: x itself is typically the residual).
     */
    public Tensor forward(LayerNorm norm, Tensor x, Tensor context, Tensor residual, boolean residualIsScratch) {
        Tensor q;
        Tensor[] kv;
        if (context == null) {
            Tensor[] qkv = norm == null ? Linear.forward(x, toQ, toK, toV) : norm.linears(x, toQ, toK, toV);
            q = qkv[0];
            kv = new Tensor[] {qkv[1], qkv[2]};
        } else {
            q = norm == null ? toQ.forward(x) : norm.linears(x, toQ)[0];
            kv = textKeys(context);
        }
        return toOut.forward(backend.attention(q, kv[0], kv[1], heads, scale, false), residual, residualIsScratch);
    }

    /** {@code to_k} and {@code to_v} of a cross-attention context: those of the last call when its floats are the same. */
    private Tensor[] textKeys(Tensor context) {
        SoftReference<TextKeys> ref = lastText.get();
        TextKeys last = ref == null ? null : ref.get();
        if (last != null && last.shape().equals(context.shape()) && sameFloats(last.context(), context)) {
            return new Tensor[] {last.k(), last.v()};
        }
        // Kept past this call: never from a scope's recycled storage.
        Tensor[] kv = TensorScope.unscoped(() -> Linear.forward(context, toK, toV));
        lastText.set(new SoftReference<>(new TextKeys(context.shape(), context.toFloatArray(), kv[0], kv[1])));
        return kv;
    }

    private static boolean sameFloats(float[] kept, Tensor t) {
        if (!t.isHeap()) {
            return Arrays.equals(kept, t.toFloatArray());
        }
        return kept.length == t.numel() && Arrays.equals(kept, 0, kept.length, t.array(), t.offset(),
                t.offset() + kept.length);
    }

    /**
     * Self-attention over the pixels of an image: x {@code [B, queryDim, H, W]} (already normalised), residual
     * {@code [B, queryDim, H, W]} or null → {@code [B, queryDim, H, W]}, the same values as transposing x to
     * {@code [B, H·W, queryDim]}, {@link #forward(Tensor, Tensor, Tensor)} and transposing back, but with the
     * projections reading and writing the channels in place.
     */
    public Tensor forwardChannels(Tensor x, Tensor residual) {
        if (x.rank() != 4) {
            throw new IllegalArgumentException("Attention.forwardChannels: x must be [B, C, H, W], got " + x.shape());
        }
        Tensor q = toQ.forwardFromChannels(x);
        Tensor k = toK.forwardFromChannels(x);
        Tensor v = toV.forwardFromChannels(x);
        return toOut.forwardToChannels(backend.attention(q, k, v, heads, scale, false), residual, x.dim(2),
                x.dim(3));
    }
}
