package dev.diffusion4j.nn.controlnet;

import dev.diffusion4j.nn.ModelConfig;
import dev.diffusion4j.nn.Probe;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.layers.Conv2d;
import dev.diffusion4j.nn.unet.DownBlock2D;
import dev.diffusion4j.nn.unet.GuidanceHalves;
import dev.diffusion4j.nn.unet.TimeEmbedding;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
import dev.diffusion4j.nn.unet.UNet2DConditionConfig;
import dev.diffusion4j.nn.unet.UNetMidBlock2DCrossAttn;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code ControlNetModel}: a copy of the U-Net's encoder (time embedding, {@code conv_in}, down blocks,
 * mid block) whose input is the latents plus an embedding of a control image (edges, depth, pose...). Every skip
 * tensor and the mid block output go through a 1×1 "zero conv" ({@code controlnet_down_blocks.i},
 * {@code controlnet_mid_block}) and become residuals that
 * {@link dev.diffusion4j.nn.unet.UNet2DConditionModel#forward(Tensor, float[], Tensor, List, Tensor, Probe)} adds to
 * its own skip tensors and mid block output.
 *
 * <p>Instances are immutable and may be shared by threads if the backend may.
 */
public final class ControlNetModel {
    /**
     * The residuals of one evaluation, already multiplied by the conditioning scale.
     *
     * @param downBlockResSamples one per U-Net skip tensor, in the U-Net's order
     * @param midBlockResSample the mid block residual
     */
    public record Output(List<Tensor> downBlockResSamples, Tensor midBlockResSample) {
        /** Copies the list (the tensors are shared). */
        public Output {
            downBlockResSamples = List.copyOf(downBlockResSamples);
        }
    }

    private final ControlNetConfig config;
    private final Backend backend;
    private final TimeEmbedding timeEmbedding;
    private final Conv2d convIn;
    private final ControlNetConditioningEmbedding condEmbedding;
    private final List<DownBlock2D> downBlocks = new ArrayList<>();
    private final List<Conv2d> zeroConvs = new ArrayList<>();
    private final UNetMidBlock2DCrossAttn midBlock;
    private final Conv2d midZeroConv;

    /** Builds the model, taking every weight from {@code weights} (diffusers keys) and checking its shape. */
    public ControlNetModel(ControlNetConfig config, StateDict weights, Backend backend) {
        this.config = config;
        this.backend = backend;
        UNet2DConditionConfig u = config.unet();
        int[] ch = u.blockOutChannels();
        int n = ch.length;
        this.timeEmbedding = new TimeEmbedding(backend, weights, u);
        this.convIn = new Conv2d(backend, weights, "conv_in", u.inChannels(), ch[0], 3, 1, 1);
        this.condEmbedding = new ControlNetConditioningEmbedding(backend, weights, "controlnet_cond_embedding",
                config.conditioningChannels(), config.conditioningEmbeddingOutChannels(), ch[0]);

        int[] heads = u.numAttentionHeads();
        int[] tlpb = u.transformerLayersPerBlock();
        int zero = 0;
        zeroConvs.add(zeroConv(weights, zero++, ch[0]));
        int out = ch[0];
        for (int i = 0; i < n; i++) {
            int in = out;
            out = ch[i];
            boolean last = i == n - 1;
            downBlocks.add(new DownBlock2D(backend, weights, "down_blocks." + i,
                    u.downBlockTypes().get(i).equals("CrossAttnDownBlock2D"), u, in, out, heads[i], tlpb[i], !last));
            for (int j = 0; j < u.layersPerBlock(); j++) {
                zeroConvs.add(zeroConv(weights, zero++, out));
            }
            if (!last) {
                zeroConvs.add(zeroConv(weights, zero++, out));
            }
        }
        this.midBlock = new UNetMidBlock2DCrossAttn(backend, weights, "mid_block", u, ch[n - 1], heads[n - 1], tlpb[n - 1]);
        this.midZeroConv = new Conv2d(backend, weights, "controlnet_mid_block", ch[n - 1], ch[n - 1], 1, 1, 0);
    }

    /** Builds the model from a diffusers config. */
    public ControlNetModel(ModelConfig config, StateDict weights, Backend backend) {
        this(ControlNetConfig.from(config), weights, backend);
    }

    private Conv2d zeroConv(StateDict weights, int index, int channels) {
        return new Conv2d(backend, weights, "controlnet_down_blocks." + index, channels, channels, 1, 1, 0);
    }

    /** The config the model was built from. */
    public ControlNetConfig config() {
        return config;
    }

    /** How many down residuals {@link #forward} returns (the U-Net's skip tensor count). */
    public int residualCount() {
        return zeroConvs.size();
    }

    /** {@link #forward(Tensor, float[], Tensor, Tensor, float, boolean, Probe)} without a probe. */
    public Output forward(Tensor sample, float[] timesteps, Tensor encoderHiddenStates, Tensor controlnetCond,
                          float conditioningScale, boolean guessMode) {
        return forward(sample, timesteps, encoderHiddenStates, controlnetCond, conditioningScale, guessMode, Probe.NONE);
    }

    /**
     * One evaluation of an SDXL ControlNet ({@code addition_embed_type: text_time}): as
     * {@link #forward(Tensor, float[], Tensor, Tensor, float, boolean, Probe)}, with the U-Net's added conditioning
     * ({@code added_cond_kwargs}: pooled text embeddings and the six size/crop ids, one row per batch entry) added to
     * the time embedding. {@code added} is required for such a model and must be null for any other.
     */
    public Output forward(Tensor sample, float[] timesteps, Tensor encoderHiddenStates,
                          UNet2DConditionModel.AddedCond added, Tensor controlnetCond, float conditioningScale,
                          boolean guessMode, Probe probe) {
        checkCond(sample, encoderHiddenStates, controlnetCond);
        return forwardEmbedded(sample, timesteps, encoderHiddenStates, added, conditioningEmbedding(controlnetCond),
                conditioningScale, guessMode, probe);
    }

    /**
     * One evaluation.
     *
     * @param sample latents {@code [B, in_channels, h, w]}, as the U-Net gets them (scaled model input)
     * @param timesteps one timestep per batch entry, or one for the whole batch
     * @param encoderHiddenStates text embeddings {@code [B, S, cross_attention_dim]}
     * @param controlnetCond the control image {@code [B, conditioning_channels, H, W]} in [0, 1], RGB; its size
     *     divided by 2^(conditioning stages - 1) must be the latents' (8 × for SD)
     * @param conditioningScale multiplies every residual
     * @param guessMode diffusers' guess mode: the residuals are scaled by {@code logspace(-1, 0)} from the first skip
     *     tensor (×0.1) to the mid block (×1), times {@code conditioningScale}
     * @param probe receives intermediate outputs by diffusers module name
     * @return the residuals
     */
    public Output forward(Tensor sample, float[] timesteps, Tensor encoderHiddenStates, Tensor controlnetCond,
                          float conditioningScale, boolean guessMode, Probe probe) {
        checkCond(sample, encoderHiddenStates, controlnetCond);
        return forwardEmbedded(sample, timesteps, encoderHiddenStates, conditioningEmbedding(controlnetCond),
                conditioningScale, guessMode, probe);
    }

    private void checkCond(Tensor sample, Tensor encoderHiddenStates, Tensor controlnetCond) {
        config.unet().checkInputs("ControlNetModel", sample, encoderHiddenStates);
        int batch = sample.dim(0);
        int f = 1 << condEmbedding.downsamplings();
        if (controlnetCond.rank() != 4 || controlnetCond.dim(0) != batch
                || controlnetCond.dim(1) != config.conditioningChannels()
                || controlnetCond.dim(2) != sample.dim(2) * f || controlnetCond.dim(3) != sample.dim(3) * f) {
            throw new IllegalArgumentException("ControlNetModel: controlnet_cond must be [" + batch + ", "
                    + config.conditioningChannels() + ", " + sample.dim(2) * f + ", " + sample.dim(3) * f
                    + "] (" + f + "x the sample " + sample.shape() + "), got " + controlnetCond.shape());
        }
    }

    /**
     * The control image's embedding ({@code controlnet_cond_embedding}), which does not depend on the step: a
     * pipeline computes it once and calls {@link #forwardEmbedded} every step.
     *
     * @param controlnetCond {@code [B, conditioning_channels, H, W]} in [0, 1], RGB
     * @return {@code [B, block_out_channels[0], H / 2^k, W / 2^k]} for k stride-2 stages (8 × smaller for SD)
     */
    public Tensor conditioningEmbedding(Tensor controlnetCond) {
        if (controlnetCond.rank() != 4 || controlnetCond.dim(1) != config.conditioningChannels()) {
            throw new IllegalArgumentException("ControlNetModel: controlnet_cond must be [B, "
                    + config.conditioningChannels() + ", H, W], got " + controlnetCond.shape());
        }
        return condEmbedding.forward(config.bgr() ? flipChannels(controlnetCond) : controlnetCond);
    }

    /**
     * {@link #forward(Tensor, float[], Tensor, Tensor, float, boolean, Probe)} with the control image already
     * embedded by {@link #conditioningEmbedding}.
     */
    public Output forwardEmbedded(Tensor sample, float[] timesteps, Tensor encoderHiddenStates, Tensor condEmbedding,
                                  float conditioningScale, boolean guessMode, Probe probe) {
        return forwardEmbedded(sample, timesteps, encoderHiddenStates, null, condEmbedding, conditioningScale, guessMode,
                probe);
    }

    /**
     * {@link #forward(Tensor, float[], Tensor, UNet2DConditionModel.AddedCond, Tensor, float, boolean, Probe)} with
     * the control image already embedded by {@link #conditioningEmbedding}.
     */
    public Output forwardEmbedded(Tensor sample, float[] timesteps, Tensor encoderHiddenStates,
                                  UNet2DConditionModel.AddedCond added, Tensor condEmbedding, float conditioningScale,
                                  boolean guessMode, Probe probe) {
        UNet2DConditionConfig u = config.unet();
        u.checkInputs("ControlNetModel", sample, encoderHiddenStates);
        int batch = sample.dim(0);
        if (condEmbedding.rank() != 4 || condEmbedding.dim(0) != batch || condEmbedding.dim(1) != u.blockOutChannels()[0]
                || condEmbedding.dim(2) != sample.dim(2) || condEmbedding.dim(3) != sample.dim(3)) {
            throw new IllegalArgumentException("ControlNetModel: the control image embedding " + condEmbedding.shape()
                    + " does not fit the sample " + sample.shape() + " (its size must be the latents' × "
                    + (1 << this.condEmbedding.downsamplings()) + ")");
        }
        float[] t = UNet2DConditionConfig.perSample("ControlNetModel", timesteps, batch);
        Tensor embSilu = timeEmbedding.forwardSilu("ControlNetModel", t, added, batch, probe);

        // A guided batch whose halves differ only in the text: the prefix before the first cross-attention runs once
        // (see GuidanceHalves). Not with a probe, which records whole-batch intermediates.
        boolean halves = probe == Probe.NONE && GuidanceHalves.identical(sample, t, added)
                && GuidanceHalves.halvesEqual(condEmbedding);
        Tensor h = convIn.forward(sample);
        probe.record("controlnet_cond_embedding", condEmbedding);
        h = backend.add(h, condEmbedding);
        List<Tensor> skips = new ArrayList<>();
        skips.add(h);
        for (int i = 0; i < downBlocks.size(); i++) {
            h = downBlocks.get(i).forward(h, embSilu, encoderHiddenStates, skips, probe, halves && i == 0);
        }
        h = midBlock.forward(h, embSilu, encoderHiddenStates);
        probe.record("mid_block", h);

        int n = skips.size();
        float[] scales = new float[n + 1];
        for (int i = 0; i <= n; i++) {
            // torch.logspace(-1, 0, n + 1) in float32, then × the conditioning scale.
            scales[i] = guessMode ? (float) Math.pow(10, -1 + (double) i / n) * conditioningScale : conditioningScale;
        }
        List<Tensor> down = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            down.add(finish(zeroConvs.get(i).forward(skips.get(i)), scales[i]));
        }
        Tensor mid = finish(midZeroConv.forward(h), scales[n]);
        return new Output(down, mid);
    }

    private Tensor finish(Tensor residual, float scale) {
        Tensor r = scale == 1f ? residual : backend.scale(residual, scale);
        return config.globalPoolConditions() ? spatialMean(r) : r;
    }

    /** Mean over H and W, kept as {@code [B, C, 1, 1]} (the U-Net's add broadcasts it). */
    private static Tensor spatialMean(Tensor x) {
        int bc = x.dim(0) * x.dim(1);
        int hw = x.dim(2) * x.dim(3);
        float[] a = x.toFloatArray();
        float[] out = new float[bc];
        for (int i = 0; i < bc; i++) {
            double s = 0;
            for (int j = 0; j < hw; j++) {
                s += a[i * hw + j];
            }
            out[i] = (float) (s / hw);
        }
        return Tensor.of(out, x.dim(0), x.dim(1), 1, 1);
    }

    private static Tensor flipChannels(Tensor x) {
        int b = x.dim(0);
        int c = x.dim(1);
        int hw = x.dim(2) * x.dim(3);
        float[] a = x.toFloatArray();
        float[] out = new float[a.length];
        for (int n = 0; n < b; n++) {
            for (int ch = 0; ch < c; ch++) {
                System.arraycopy(a, (n * c + ch) * hw, out, (n * c + (c - 1 - ch)) * hw, hw);
            }
        }
        return Tensor.of(out, x.shape().dims());
    }
}
