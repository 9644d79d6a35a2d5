package dev.diffusion4j.nn.unet;

import dev.diffusion4j.nn.ModelConfig;
import dev.diffusion4j.nn.Probe;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.layers.Conv2d;
import dev.diffusion4j.nn.layers.GroupNorm;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code UNet2DConditionModel} (SD 1.x/2.x structure), built from its config: predicts the noise (or v)
 * of latents {@code [B, in_channels, h, w]} at a timestep, conditioned on text embeddings {@code [B, S,
 * cross_attention_dim]}.
 *
 * <p>Field and weight names follow diffusers, so a state-dict key reads as a path through the blocks. Any latent
 * size works, also one that is not a multiple of 2^(number of up-samplers): the up-samplers then resize to the
 * matching skip tensor's size. Instances are immutable and may be shared by threads if the backend may.
 */
public final class UNet2DConditionModel {
    private final UNet2DConditionConfig config;
    private final Backend backend;
    private final TimeEmbedding timeEmbedding;
    private final Conv2d convIn;
    private final List<DownBlock2D> downBlocks = new ArrayList<>();
    private final UNetMidBlock2DCrossAttn midBlock;
    private final List<UpBlock2D> upBlocks = new ArrayList<>();
    private final GroupNorm convNormOut;
    private final Conv2d convOut;

    /** Builds the model, taking every weight from {@code weights} (diffusers keys) and checking its shape. */
    public UNet2DConditionModel(UNet2DConditionConfig config, StateDict weights, Backend backend) {
        this.config = config;
        this.backend = backend;
        int[] ch = config.blockOutChannels();
        int n = ch.length;
        this.timeEmbedding = new TimeEmbedding(backend, weights, config);
        this.convIn = new Conv2d(backend, weights, "conv_in", config.inChannels(), ch[0], 3, 1, 1);

        int[] heads = config.numAttentionHeads();
        int[] tlpb = config.transformerLayersPerBlock();
        int out = ch[0];
        for (int i = 0; i < n; i++) {
            int in = out;
            out = ch[i];
            downBlocks.add(new DownBlock2D(backend, weights, "down_blocks." + i,
                    config.downBlockTypes().get(i).equals("CrossAttnDownBlock2D"), config, in, out, heads[i], tlpb[i],
                    i < n - 1));
        }
        this.midBlock = new UNetMidBlock2DCrossAttn(backend, weights, "mid_block", config, ch[n - 1], heads[n - 1], tlpb[n - 1]);

        int[] reversedCh = reversed(ch);
        int[] reversedHeads = reversed(heads);
        int[] reversedLayers = config.reverseTransformerLayersPerBlock() != null
                ? config.reverseTransformerLayersPerBlock() : reversed(tlpb);
        out = reversedCh[0];
        for (int i = 0; i < n; i++) {
            int prevOut = out;
            out = reversedCh[i];
            int in = reversedCh[Math.min(i + 1, n - 1)];
            upBlocks.add(new UpBlock2D(backend, weights, "up_blocks." + i,
                    config.upBlockTypes().get(i).equals("CrossAttnUpBlock2D"), config, in, out, prevOut,
                    reversedHeads[i], reversedLayers[i], i < n - 1));
        }
        this.convNormOut = new GroupNorm(backend, weights, "conv_norm_out", config.normNumGroups(), ch[0], config.normEps());
        this.convOut = new Conv2d(backend, weights, "conv_out", ch[0], config.outChannels(), 3, 1, 1);
    }

    /** Builds the model from a diffusers config. */
    public UNet2DConditionModel(ModelConfig config, StateDict weights, Backend backend) {
        this(UNet2DConditionConfig.from(config), weights, backend);
    }

    private static int[] reversed(int[] a) {
        int[] r = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = a[a.length - 1 - i];
        }
        return r;
    }

    private Tensor addResidual(String what, Tensor x, Tensor residual) {
        // [B, C, 1, 1] is a globally pooled residual (diffusers broadcasts it).
        boolean pooled = residual.rank() == 4 && residual.dim(0) == x.dim(0) && residual.dim(1) == x.dim(1)
                && residual.dim(2) == 1 && residual.dim(3) == 1;
        if (!residual.shape().equals(x.shape()) && !pooled) {
            throw new IllegalArgumentException("UNet2DConditionModel: " + what + " has shape " + residual.shape()
                    + ", the U-Net's tensor there is " + x.shape());
        }
        return backend.add(x, residual);
    }

    /**
     * SDXL's added conditioning ({@code added_cond_kwargs} of diffusers).
     *
     * @param textEmbeds the pooled, projected text embedding {@code [B, P]}
     * @param timeIds    {@code [B, 6]}: original (h, w), crop top-left (y, x), target (h, w)
     */
    public record AddedCond(Tensor textEmbeds, Tensor timeIds) {
    }

    /** The config the model was built from. */
    public UNet2DConditionConfig config() {
        return config;
    }

    /** {@link #forward(Tensor, float[], Tensor, Probe)} without a probe. */
    public Tensor forward(Tensor sample, float[] timesteps, Tensor encoderHiddenStates) {
        return forward(sample, timesteps, encoderHiddenStates, Probe.NONE);
    }

    /**
     * One evaluation.
     *
     * @param sample latents {@code [B, in_channels, h, w]}
     * @param timesteps one timestep per batch entry, or a single one for the whole batch (float: schedulers such as
     *     Euler use non-integer timesteps)
     * @param encoderHiddenStates text embeddings {@code [B, S, cross_attention_dim]}
     * @param probe receives intermediate outputs by diffusers module name
     * @return the prediction, {@code [B, out_channels, h, w]}
     */
    public Tensor forward(Tensor sample, float[] timesteps, Tensor encoderHiddenStates, Probe probe) {
        return forward(sample, timesteps, encoderHiddenStates, null, null, probe);
    }

    /**
     * One evaluation with ControlNet residuals (diffusers' {@code down_block_additional_residuals} and
     * {@code mid_block_additional_residual}): each down residual is added to the matching skip tensor before the up
     * path consumes it, the mid residual to the mid block's output.
     *
     * @param downResiduals one tensor per skip tensor (conv_in, every resnet/attention, every down-sampler, in
     *     order), each of its skip tensor's shape; or null for none
     * @param midResidual the mid block output's shape, or null for none (a residual may also be {@code [B, C, 1, 1]},
     *     added to every position)
     */
    public Tensor forward(Tensor sample, float[] timesteps, Tensor encoderHiddenStates, List<Tensor> downResiduals,
                          Tensor midResidual, Probe probe) {
        return forward(sample, timesteps, encoderHiddenStates, null, downResiduals, midResidual, probe);
    }

    /** {@link #forward(Tensor, float[], Tensor, AddedCond, List, Tensor, Probe)} without residuals and probe. */
    public Tensor forward(Tensor sample, float[] timesteps, Tensor encoderHiddenStates, AddedCond added) {
        return forward(sample, timesteps, encoderHiddenStates, added, null, null, Probe.NONE);
    }

    /**
     * One evaluation with SDXL's added conditioning (required when the config's {@code addition_embed_type} is
     * {@code text_time}, must be null otherwise): {@code emb += add_embedding(cat(text_embeds, flatten(
     * add_time_proj(time_ids))))}, each time id embedded with {@code addition_time_embed_dim} sinusoidal channels.
     * Other parameters as {@link #forward(Tensor, float[], Tensor, List, Tensor, Probe)}.
     */
    public Tensor forward(Tensor sample, float[] timesteps, Tensor encoderHiddenStates, AddedCond added,
                          List<Tensor> downResiduals, Tensor midResidual, Probe probe) {
        if (probe != Probe.NONE) {
            // A probe keeps intermediates past the call: none of them may be recycled.
            return forwardBody(sample, timesteps, encoderHiddenStates, added, downResiduals, midResidual, probe);
        }
        try (TensorScope scope = TensorScope.open()) {
            return scope.keep(forwardBody(sample, timesteps, encoderHiddenStates, added, downResiduals, midResidual,
                    probe));
        }
    }

    private Tensor forwardBody(Tensor sample, float[] timesteps, Tensor encoderHiddenStates, AddedCond added,
                               List<Tensor> downResiduals, Tensor midResidual, Probe probe) {
        config.checkInputs("UNet2DConditionModel", sample, encoderHiddenStates);
        int batch = sample.dim(0);
        float[] t = UNet2DConditionConfig.perSample("UNet2DConditionModel", timesteps, batch);

        int upsamplers = upBlocks.size() - 1;
        int factor = 1 << upsamplers;
        boolean forwardUpsampleSize = sample.dim(2) % factor != 0 || sample.dim(3) % factor != 0;

        Tensor embSilu = timeEmbedding.forwardSilu("UNet2DConditionModel", t, added, batch, probe);

        // A guided batch (the same latents twice): what comes before the text runs once (see GuidanceHalves), from
        // the first resnet on (conv_in, on 4 channels, costs less whole than its output's copy would). Not with a
        // probe, which records whole-batch intermediates.
        boolean halves = probe == Probe.NONE && GuidanceHalves.identical(sample, t, added);
        Tensor h = convIn.forward(sample);
        probe.record("conv_in", h);
        List<Tensor> skips = new ArrayList<>();
        skips.add(h);
        for (int i = 0; i < downBlocks.size(); i++) {
            DownBlock2D block = downBlocks.get(i);
            int first = skips.size();
            h = block.forward(h, embSilu, encoderHiddenStates, skips, probe, halves && i == 0);
            probe.record("down_blocks." + i + ".hidden", h);
            for (int j = first; j < skips.size(); j++) {
                probe.record("down_blocks." + i + ".res" + (j - first), skips.get(j));
            }
        }
        if (downResiduals != null) {
            if (downResiduals.size() != skips.size()) {
                throw new IllegalArgumentException("UNet2DConditionModel: " + downResiduals.size()
                        + " down block residuals for " + skips.size() + " skip tensors");
            }
            for (int j = 0; j < skips.size(); j++) {
                skips.set(j, addResidual("down block residual " + j, skips.get(j), downResiduals.get(j)));
            }
        }
        h = midBlock.forward(h, embSilu, encoderHiddenStates);
        if (midResidual != null) {
            h = addResidual("mid block residual", h, midResidual);
        }
        probe.record("mid_block", h);
        for (int i = 0; i < upBlocks.size(); i++) {
            UpBlock2D block = upBlocks.get(i);
            int outH = h.dim(2) * 2;
            int outW = h.dim(3) * 2;
            if (block.hasUpsampler() && forwardUpsampleSize) {
                // The skip tensor the next block consumes first sets the size to up-sample to.
                Tensor next = skips.get(skips.size() - 1 - block.skipCount());
                outH = next.dim(2);
                outW = next.dim(3);
            }
            h = block.forward(h, embSilu, encoderHiddenStates, skips, outH, outW);
            probe.record("up_blocks." + i, h);
        }
        if (probe != Probe.NONE) {
            // The reference hooks the GroupNorm before its activation; the forward pass fuses the two.
            probe.record("conv_norm_out", convNormOut.forward(h));
        }
        h = convOut.forwardNormSilu(convNormOut, h, null);
        probe.record("conv_out", h);
        return h;
    }
}
