package dev.diffusion4j.nn.unet;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.layers.Linear;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;

/**
 * SDXL's added conditioning ({@code addition_embed_type: text_time}), shared by the U-Net and the ControlNet:
 * {@code add_embedding(cat(text_embeds, flatten(add_time_proj(time_ids))))}, each of the six time ids embedded with
 * {@code addition_time_embed_dim} sinusoidal channels; {@code add_embedding} is {@code linear_1 → SiLU → linear_2}
 * ({@code projection_class_embeddings_input_dim → time_embed_dim → time_embed_dim}). The result is added to the time
 * embedding.
 */
public final class TextTimeEmbedding {
    private final Backend backend;
    private final UNet2DConditionConfig config;
    private final Timesteps addTimeProj;
    private final Linear linear1;
    private final Linear linear2;

    /** Loads {@code prefix.linear_1} and {@code prefix.linear_2} (diffusers' {@code add_embedding}). */
    public TextTimeEmbedding(Backend backend, StateDict weights, String prefix, UNet2DConditionConfig config) {
        this.backend = backend;
        this.config = config;
        int temb = config.timeEmbedDim();
        this.addTimeProj = new Timesteps(config.additionTimeEmbedDim(), config.flipSinToCos(), config.freqShift());
        this.linear1 = new Linear(backend, weights, prefix + ".linear_1", config.projectionClassEmbeddingsInputDim(),
                temb, true);
        this.linear2 = new Linear(backend, weights, prefix + ".linear_2", temb, temb, true);
    }

    /**
     * The added embedding {@code [B, time_embed_dim]}.
     *
     * @param what  the calling model, for messages
     * @param added {@code text_embeds [B, P]} and {@code time_ids [B, 6]}, {@code P = projection_class_embeddings_input_dim
     *              − 6 · addition_time_embed_dim}
     * @param batch B
     */
    public Tensor forward(String what, UNet2DConditionModel.AddedCond added, int batch) {
        Tensor text = added.textEmbeds();
        Tensor ids = added.timeIds();
        int tdim = config.additionTimeEmbedDim();
        int pooled = config.projectionClassEmbeddingsInputDim() - 6 * tdim;
        if (text == null || ids == null || text.rank() != 2 || text.dim(0) != batch || text.dim(1) != pooled
                || ids.rank() != 2 || ids.dim(0) != batch || ids.dim(1) != 6) {
            throw new IllegalArgumentException(what + ": text_embeds must be [" + batch + ", " + pooled
                    + "] and time_ids [" + batch + ", 6], got " + (text == null ? "null" : text.shape()) + " and "
                    + (ids == null ? "null" : ids.shape()));
        }
        float[] idv = ids.toFloatArray();
        float[] timeEmb = addTimeProj.forward(idv).toFloatArray();   // [B*6, tdim], row-major = flatten per batch
        float[] tv = text.toFloatArray();
        int width = pooled + 6 * tdim;
        float[] cat = new float[batch * width];
        for (int b = 0; b < batch; b++) {
            System.arraycopy(tv, b * pooled, cat, b * width, pooled);
            System.arraycopy(timeEmb, b * 6 * tdim, cat, b * width + pooled, 6 * tdim);
        }
        Tensor x = Tensor.of(cat, batch, width);
        return linear2.forward(backend.silu(linear1.forward(x)));
    }
}
