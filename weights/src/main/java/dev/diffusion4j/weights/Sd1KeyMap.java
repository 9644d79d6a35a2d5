package dev.diffusion4j.weights;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Rules mapping the keys of an SD1.x single-file (CompVis / A1111) checkpoint to the internal naming: a diffusers
 * component ({@code unet}, {@code vae}, {@code text_encoder}) plus the diffusers key, with the reshape the VAE's
 * mid-block attention needs (stored as 1×1 convolutions {@code [C,C,1,1]}, used as linear {@code [C,C]}).
 *
 * <p>The U-Net numbering depends on {@code layersPerBlock} (the LDM {@code num_res_blocks}): input block
 * {@code k >= 1} is level {@code (k-1)/(L+1)}, layer {@code (k-1)%(L+1)}, the last layer of a level being its
 * down-sampler; output block {@code k} is level {@code k/(L+1)}, layer {@code k%(L+1)}. The VAE decoder counts its
 * levels backwards ({@code up.i} is diffusers {@code up_blocks.(levels-1-i)}).
 */
public final class Sd1KeyMap {
    /** Where a single-file key goes; {@code linearFromConv} means drop the trailing {@code 1×1} of the stored shape. */
    public record Target(String component, String key, boolean linearFromConv) {
    }

    static final String UNET = "model.diffusion_model.";
    static final String VAE = "first_stage_model.";
    static final String CLIP = "cond_stage_model.transformer.";

    private static final Pattern INPUT = Pattern.compile("input_blocks\\.(\\d+)\\.(\\d+)\\.(.+)");
    private static final Pattern OUTPUT = Pattern.compile("output_blocks\\.(\\d+)\\.(\\d+)\\.(.+)");
    private static final Pattern MIDDLE = Pattern.compile("middle_block\\.(\\d+)\\.(.+)");
    private static final Pattern VAE_DOWN = Pattern.compile("encoder\\.down\\.(\\d+)\\.(block\\.(\\d+)|downsample)\\.(.+)");
    private static final Pattern VAE_UP = Pattern.compile("decoder\\.up\\.(\\d+)\\.(block\\.(\\d+)|upsample)\\.(.+)");
    private static final Pattern VAE_MID = Pattern.compile("(encoder|decoder)\\.mid\\.(block_1|block_2|attn_1)\\.(.+)");

    private final int layersPerBlock;
    private final int vaeLevels;

    /**
     * Rules for a U-Net with {@code layersPerBlock} resnets per level and a VAE with {@code vaeLevels} levels.
     */
    public Sd1KeyMap(int layersPerBlock, int vaeLevels) {
        if (layersPerBlock < 1 || vaeLevels < 1) {
            throw new IllegalArgumentException("Sd1KeyMap: layersPerBlock " + layersPerBlock + " and vaeLevels "
                    + vaeLevels + " must be >= 1");
        }
        this.layersPerBlock = layersPerBlock;
        this.vaeLevels = vaeLevels;
    }

    /** The internal name of single-file key {@code key}, or empty when no rule maps it. */
    public Optional<Target> map(String key) {
        if (key.startsWith(UNET)) {
            return Optional.ofNullable(unet(key.substring(UNET.length()))).map(k -> new Target("unet", k, false));
        }
        if (key.startsWith(VAE)) {
            return vae(key.substring(VAE.length()));
        }
        if (key.startsWith(CLIP)) {
            String k = key.substring(CLIP.length());
            // Checkpoints saved with transformers < 4.20 lack the "text_model." level.
            if (!k.startsWith("text_model.")) {
                k = "text_model." + k;
            }
            if (k.startsWith("text_model.embeddings.") || k.startsWith("text_model.encoder.layers.")
                    || k.startsWith("text_model.final_layer_norm.")) {
                return Optional.of(new Target("text_encoder", k, false));
            }
        }
        return Optional.empty();
    }

    /** Why {@code key} is ignored on purpose (EMA copies, schedule buffers, training state), or empty. */
    public static Optional<String> ignoreReason(String key) {
        if (key.startsWith("model_ema.")) {
            return Optional.of("EMA copy of the weights (not used for inference)");
        }
        if (key.endsWith("position_ids")) {
            return Optional.of("position_ids buffer (recomputed, 0..n-1)");
        }
        if (key.matches("(betas|alphas_cumprod|alphas_cumprod_prev|sqrt_alphas_cumprod|sqrt_one_minus_alphas_cumprod"
                + "|log_one_minus_alphas_cumprod|sqrt_recip_alphas_cumprod|sqrt_recipm1_alphas_cumprod"
                + "|posterior_variance|posterior_log_variance_clipped|posterior_mean_coef1|posterior_mean_coef2"
                + "|logvar|lvlb_weights|model\\.diffusion_model\\.logvar)")) {
            return Optional.of("noise-schedule buffer (the scheduler computes it)");
        }
        if (key.startsWith("first_stage_model.loss.") || key.startsWith("loss.")) {
            return Optional.of("VAE training loss (discriminator/LPIPS)");
        }
        if (key.startsWith("optimizer") || key.startsWith("lr_scheduler") || key.equals("global_step")
                || key.equals("epoch")) {
            return Optional.of("training state");
        }
        return Optional.empty();
    }

    private String unet(String k) {
        String tail;
        if ((tail = after(k, "time_embed.0.")) != null) {
            return "time_embedding.linear_1." + tail;
        }
        if ((tail = after(k, "time_embed.2.")) != null) {
            return "time_embedding.linear_2." + tail;
        }
        if ((tail = after(k, "label_emb.0.0.")) != null) {
            return "add_embedding.linear_1." + tail;   // SDXL's text_time added embedding
        }
        if ((tail = after(k, "label_emb.0.2.")) != null) {
            return "add_embedding.linear_2." + tail;
        }
        if ((tail = after(k, "input_blocks.0.0.")) != null) {
            return "conv_in." + tail;
        }
        if ((tail = after(k, "out.0.")) != null) {
            return "conv_norm_out." + tail;
        }
        if ((tail = after(k, "out.2.")) != null) {
            return "conv_out." + tail;
        }
        int per = layersPerBlock + 1;
        Matcher m = INPUT.matcher(k);
        if (m.matches()) {
            int b = Integer.parseInt(m.group(1));
            int sub = Integer.parseInt(m.group(2));
            String rest = m.group(3);
            if (b == 0) {
                return null;
            }
            int level = (b - 1) / per;
            int layer = (b - 1) % per;
            String prefix = "down_blocks." + level + ".";
            if (layer == layersPerBlock) {
                return sub == 0 && rest.startsWith("op.") ? prefix + "downsamplers.0.conv." + rest.substring(3) : null;
            }
            return switch (sub) {
                case 0 -> resnet(prefix + "resnets." + layer + ".", rest);
                case 1 -> prefix + "attentions." + layer + "." + rest;
                default -> null;
            };
        }
        m = OUTPUT.matcher(k);
        if (m.matches()) {
            int b = Integer.parseInt(m.group(1));
            int sub = Integer.parseInt(m.group(2));
            String rest = m.group(3);
            String prefix = "up_blocks." + (b / per) + ".";
            int layer = b % per;
            if (sub == 0) {
                return resnet(prefix + "resnets." + layer + ".", rest);
            }
            // The up-sampler is the block's last module: .1.conv without attention, .2.conv after one.
            if (rest.startsWith("conv.") && layer == layersPerBlock && (sub == 1 || sub == 2)) {
                return prefix + "upsamplers.0.conv." + rest.substring(5);
            }
            return sub == 1 ? prefix + "attentions." + layer + "." + rest : null;
        }
        m = MIDDLE.matcher(k);
        if (m.matches()) {
            String rest = m.group(2);
            return switch (m.group(1)) {
                case "0" -> resnet("mid_block.resnets.0.", rest);
                case "1" -> "mid_block.attentions.0." + rest;
                case "2" -> resnet("mid_block.resnets.1.", rest);
                default -> null;
            };
        }
        return null;
    }

    private static String resnet(String prefix, String rest) {
        String[][] names = {{"in_layers.0.", "norm1."}, {"in_layers.2.", "conv1."}, {"emb_layers.1.", "time_emb_proj."},
            {"out_layers.0.", "norm2."}, {"out_layers.3.", "conv2."}, {"skip_connection.", "conv_shortcut."}};
        for (String[] n : names) {
            String tail = after(rest, n[0]);
            if (tail != null) {
                return prefix + n[1] + tail;
            }
        }
        return null;
    }

    private Optional<Target> vae(String k) {
        String tail;
        for (String part : new String[] {"encoder.", "decoder."}) {
            if ((tail = after(k, part + "conv_in.")) != null) {
                return vaeTarget(part + "conv_in." + tail);
            }
            if ((tail = after(k, part + "conv_out.")) != null) {
                return vaeTarget(part + "conv_out." + tail);
            }
            if ((tail = after(k, part + "norm_out.")) != null) {
                return vaeTarget(part + "conv_norm_out." + tail);
            }
        }
        if (k.startsWith("quant_conv.") || k.startsWith("post_quant_conv.")) {
            return vaeTarget(k);
        }
        Matcher m = VAE_DOWN.matcher(k);
        if (m.matches()) {
            String prefix = "encoder.down_blocks." + m.group(1) + ".";
            return m.group(3) != null ? vaeResnet(prefix + "resnets." + m.group(3) + ".", m.group(4))
                    : convOnly(prefix + "downsamplers.0.", m.group(4));
        }
        m = VAE_UP.matcher(k);
        if (m.matches()) {
            int level = Integer.parseInt(m.group(1));
            if (level >= vaeLevels) {
                return Optional.empty();
            }
            String prefix = "decoder.up_blocks." + (vaeLevels - 1 - level) + ".";
            return m.group(3) != null ? vaeResnet(prefix + "resnets." + m.group(3) + ".", m.group(4))
                    : convOnly(prefix + "upsamplers.0.", m.group(4));
        }
        m = VAE_MID.matcher(k);
        if (m.matches()) {
            String prefix = m.group(1) + ".mid_block.";
            String rest = m.group(3);
            return switch (m.group(2)) {
                case "block_1" -> vaeResnet(prefix + "resnets.0.", rest);
                case "block_2" -> vaeResnet(prefix + "resnets.1.", rest);
                default -> vaeAttention(prefix + "attentions.0.", rest);
            };
        }
        return Optional.empty();
    }

    private static Optional<Target> vaeTarget(String key) {
        return Optional.of(new Target("vae", key, false));
    }

    private static Optional<Target> convOnly(String prefix, String rest) {
        return rest.startsWith("conv.") ? vaeTarget(prefix + rest) : Optional.empty();
    }

    private static Optional<Target> vaeResnet(String prefix, String rest) {
        for (String n : new String[] {"norm1.", "conv1.", "norm2.", "conv2."}) {
            if (rest.startsWith(n)) {
                return vaeTarget(prefix + rest);
            }
        }
        String tail = after(rest, "nin_shortcut.");
        return tail != null ? vaeTarget(prefix + "conv_shortcut." + tail) : Optional.empty();
    }

    private static Optional<Target> vaeAttention(String prefix, String rest) {
        String tail = after(rest, "norm.");
        if (tail != null) {
            return vaeTarget(prefix + "group_norm." + tail);
        }
        String[][] names = {{"q.", "to_q."}, {"k.", "to_k."}, {"v.", "to_v."}, {"proj_out.", "to_out.0."}};
        for (String[] n : names) {
            tail = after(rest, n[0]);
            if (tail != null) {
                return Optional.of(new Target("vae", prefix + n[1] + tail, tail.equals("weight")));
            }
        }
        return Optional.empty();
    }

    private static String after(String s, String prefix) {
        return s.startsWith(prefix) ? s.substring(prefix.length()) : null;
    }
}
