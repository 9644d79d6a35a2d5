package dev.diffusion4j.nn.unet;

import dev.diffusion4j.nn.Probe;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.layers.Linear;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;

/**
 * The timestep conditioning of the U-Net and the ControlNet: {@code time_proj} (sinusoidal), {@code time_embedding}
 * ({@code linear_1 → SiLU → linear_2}) and, for SDXL ({@code addition_embed_type: text_time}), the
 * {@link TextTimeEmbedding} added to it.
 */
public final class TimeEmbedding {
    private final Backend backend;
    private final Timesteps timeProj;
    private final Linear linear1;
    private final Linear linear2;
    /** SDXL's {@code add_embedding}, null without {@code text_time}. */
    private final TextTimeEmbedding addEmbedding;

    /** Loads {@code time_embedding.linear_{1,2}} and, with {@code text_time}, {@code add_embedding}. */
    public TimeEmbedding(Backend backend, StateDict weights, UNet2DConditionConfig config) {
        this.backend = backend;
        int ch = config.blockOutChannels()[0];
        int temb = config.timeEmbedDim();
        this.timeProj = new Timesteps(ch, config.flipSinToCos(), config.freqShift());
        this.linear1 = new Linear(backend, weights, "time_embedding.linear_1", ch, temb, true);
        this.linear2 = new Linear(backend, weights, "time_embedding.linear_2", temb, temb, true);
        this.addEmbedding = config.textTime() ? new TextTimeEmbedding(backend, weights, "add_embedding", config) : null;
    }

    /**
     * SiLU of the time embedding {@code [B, time_embed_dim]} (every ResNet block applies SiLU first: done once).
     *
     * @param what  the calling model, for messages
     * @param t     one timestep per sample
     * @param added SDXL's added conditioning: required with {@code text_time}, refused without
     */
    public Tensor forwardSilu(String what, float[] t, UNet2DConditionModel.AddedCond added, int batch, Probe probe) {
        Tensor tProj = timeProj.forward(t);
        probe.record("time_proj", tProj);
        Tensor emb = linear2.forward(backend.silu(linear1.forward(tProj)));
        probe.record("time_embedding", emb);
        if (addEmbedding != null) {
            if (added == null) {
                throw new IllegalArgumentException(what + ": addition_embed_type text_time needs text_embeds and"
                        + " time_ids (AddedCond)");
            }
            Tensor aug = addEmbedding.forward(what, added, batch);
            probe.record("add_embedding", aug);
            emb = backend.add(emb, aug);
        } else if (added != null) {
            throw new IllegalArgumentException(what + ": added conditioning given, but the config has no "
                    + "addition_embed_type");
        }
        return backend.silu(emb);
    }
}
