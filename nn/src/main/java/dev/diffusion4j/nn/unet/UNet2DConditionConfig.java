package dev.diffusion4j.nn.unet;

import dev.diffusion4j.nn.ModelConfig;
import java.util.List;

/**
 * The keys of a diffusers {@code unet/config.json} this engine uses, with diffusers' defaults.
 *
 * <p>{@code attention_head_dim} in SD 1.x configs is the number of heads (a diffusers naming quirk): when
 * {@code num_attention_heads} is null, the heads per block are {@code attention_head_dim}, and each head has
 * {@code channels / heads} channels.
 */
public record UNet2DConditionConfig(
        int inChannels,
        int outChannels,
        int[] blockOutChannels,
        List<String> downBlockTypes,
        String midBlockType,
        List<String> upBlockTypes,
        int layersPerBlock,
        int[] transformerLayersPerBlock,
        int[] reverseTransformerLayersPerBlock,
        int[] numAttentionHeads,
        int crossAttentionDim,
        int normNumGroups,
        double normEps,
        boolean flipSinToCos,
        double freqShift,
        boolean useLinearProjection,
        boolean upcastAttention,
        double midBlockScaleFactor,
        double resnetOutScaleFactor,
        int sampleSize,
        String additionEmbedType,
        int additionTimeEmbedDim,
        int projectionClassEmbeddingsInputDim) {

    /** SDXL's {@code addition_embed_type}: pooled text embeds and 6 size/crop ids added to the time embedding. */
    public static final String TEXT_TIME = "text_time";

    /** True when the model takes SDXL's added conditioning ({@code addition_embed_type: text_time}). */
    public boolean textTime() {
        return TEXT_TIME.equals(additionEmbedType);
    }

    /** Reads and validates a config; unsupported features raise an exception naming the key. */
    public static UNet2DConditionConfig from(ModelConfig c) {
        int[] blockOut = c.getInts("block_out_channels", 0, null);
        int n = blockOut.length;
        List<String> down = c.getStrings("down_block_types");
        List<String> up = c.getStrings("up_block_types");
        if (down.size() != n || up.size() != n) {
            throw new IllegalArgumentException(c.source() + ": down_block_types (" + down.size() + ") and up_block_types ("
                    + up.size() + ") must both have one entry per block_out_channels (" + n + ")");
        }
        for (String t : down) {
            if (!t.equals("CrossAttnDownBlock2D") && !t.equals("DownBlock2D")) {
                throw new IllegalArgumentException(c.source() + ": down_block_types entry '" + t + "' is not supported "
                        + "(CrossAttnDownBlock2D, DownBlock2D)");
            }
        }
        for (String t : up) {
            if (!t.equals("CrossAttnUpBlock2D") && !t.equals("UpBlock2D")) {
                throw new IllegalArgumentException(c.source() + ": up_block_types entry '" + t + "' is not supported "
                        + "(CrossAttnUpBlock2D, UpBlock2D)");
            }
        }
        String mid = c.getString("mid_block_type", "UNetMidBlock2DCrossAttn");
        if (!mid.equals("UNetMidBlock2DCrossAttn")) {
            throw new IllegalArgumentException(c.source() + ": mid_block_type '" + mid + "' is not supported (UNetMidBlock2DCrossAttn)");
        }
        requireAbsentOr(c, "class_embed_type", null);
        requireAbsentOr(c, "addition_embed_type", TEXT_TIME);
        String addition = c.raw("addition_embed_type") == null ? null : TEXT_TIME;
        int addTimeDim = c.getInt("addition_time_embed_dim", 0);
        int addInputDim = c.getInt("projection_class_embeddings_input_dim", 0);
        if (addition != null && (addTimeDim <= 0 || addTimeDim % 2 != 0 || addInputDim <= 6 * addTimeDim)) {
            throw new IllegalArgumentException(c.source() + ": addition_embed_type text_time needs an even positive "
                    + "addition_time_embed_dim (" + addTimeDim + ") and projection_class_embeddings_input_dim ("
                    + addInputDim + ") > 6 * addition_time_embed_dim (pooled text dim + 6 time ids)");
        }
        requireAbsentOr(c, "time_cond_proj_dim", null);
        requireAbsentOr(c, "encoder_hid_dim_type", null);
        requireAbsentOr(c, "time_embedding_type", "positional");
        requireAbsentOr(c, "resnet_time_scale_shift", "default");
        requireAbsentOr(c, "act_fn", "silu");
        if (c.getInt("conv_in_kernel", 3) != 3 || c.getInt("conv_out_kernel", 3) != 3) {
            throw new IllegalArgumentException(c.source() + ": conv_in_kernel / conv_out_kernel other than 3 are not supported");
        }
        if (c.getBoolean("dual_cross_attention", false) || c.getBoolean("center_input_sample", false)) {
            throw new IllegalArgumentException(c.source() + ": dual_cross_attention / center_input_sample are not supported");
        }
        if (c.raw("only_cross_attention") instanceof Boolean b && b) {
            throw new IllegalArgumentException(c.source() + ": only_cross_attention is not supported");
        }
        int[] heads = c.has("num_attention_heads")
                ? c.getInts("num_attention_heads", n, null)
                : c.getInts("attention_head_dim", n, 8);
        int[] tlpb = c.getInts("transformer_layers_per_block", n, 1);
        int[] reverse = c.has("reverse_transformer_layers_per_block")
                ? c.getInts("reverse_transformer_layers_per_block", n, null) : null;
        Object cad = c.raw("cross_attention_dim");
        if (cad instanceof List<?>) {
            throw new IllegalArgumentException(c.source() + ": a per-block cross_attention_dim list is not supported");
        }
        return new UNet2DConditionConfig(
                c.getInt("in_channels", 4),
                c.getInt("out_channels", 4),
                blockOut, List.copyOf(down), mid, List.copyOf(up),
                c.getInt("layers_per_block", 2),
                tlpb, reverse, heads,
                c.getInt("cross_attention_dim", 1280),
                c.getInt("norm_num_groups", 32),
                c.getDouble("norm_eps", 1e-5),
                c.getBoolean("flip_sin_to_cos", true),
                c.getDouble("freq_shift", 0),
                c.getBoolean("use_linear_projection", false),
                c.getBoolean("upcast_attention", false),
                c.getDouble("mid_block_scale_factor", 1),
                c.getDouble("resnet_out_scale_factor", 1),
                c.getInt("sample_size", 64),
                addition, addition == null ? 0 : addTimeDim, addition == null ? 0 : addInputDim);
    }

    private static void requireAbsentOr(ModelConfig c, String key, String allowed) {
        Object v = c.raw(key);
        if (v != null && !v.equals(allowed)) {
            throw new IllegalArgumentException(c.source() + ": config key '" + key + "' = " + v + " is not supported yet"
                    + (allowed == null ? "" : " (only '" + allowed + "')"));
        }
    }

    /** Channels of the time embedding: 4 × {@code block_out_channels[0]}. */
    public int timeEmbedDim() {
        return blockOutChannels[0] * 4;
    }

    /**
     * Checks a model call's inputs against this config: {@code sample} {@code [B, in_channels, h, w]} and the text
     * {@code [B, S, cross_attention_dim]}; {@code op} names the caller in the message.
     */
    public void checkInputs(String op, dev.diffusion4j.tensor.Tensor sample, dev.diffusion4j.tensor.Tensor encoderHiddenStates) {
        if (sample.rank() != 4 || sample.dim(1) != inChannels) {
            throw new IllegalArgumentException(op + ": sample must be [B, " + inChannels
                    + ", h, w] (in_channels), got " + sample.shape());
        }
        int batch = sample.dim(0);
        if (encoderHiddenStates.rank() != 3 || encoderHiddenStates.dim(0) != batch
                || encoderHiddenStates.dim(2) != crossAttentionDim) {
            throw new IllegalArgumentException(op + ": encoder_hidden_states must be [" + batch + ", S, "
                    + crossAttentionDim + "] (cross_attention_dim), got " + encoderHiddenStates.shape());
        }
    }

    /** One timestep per batch entry: {@code timesteps} itself, or its single value repeated {@code batch} times. */
    public static float[] perSample(String op, float[] timesteps, int batch) {
        if (timesteps.length == batch) {
            return timesteps.clone();
        }
        if (timesteps.length == 1) {
            float[] t = new float[batch];
            java.util.Arrays.fill(t, timesteps[0]);
            return t;
        }
        throw new IllegalArgumentException(op + ": " + timesteps.length + " timesteps for a batch of " + batch);
    }
}
