package dev.diffusion4j.nn.vae;

import dev.diffusion4j.nn.ModelConfig;
import java.util.List;

/** The keys of a diffusers {@code vae/config.json} this engine uses, with diffusers' defaults. */
public record AutoencoderKLConfig(int inChannels, int outChannels, int latentChannels, int[] blockOutChannels,
                                  int layersPerBlock, int normNumGroups, double scalingFactor, int sampleSize) {

    /** Reads and validates a config. */
    public static AutoencoderKLConfig from(ModelConfig c) {
        int[] ch = c.getInts("block_out_channels", 0, null);
        for (String key : new String[] {"down_block_types", "up_block_types"}) {
            if (c.has(key)) {
                List<String> types = c.getStrings(key);
                String expected = key.startsWith("down") ? "DownEncoderBlock2D" : "UpDecoderBlock2D";
                if (types.size() != ch.length || types.stream().anyMatch(t -> !t.equals(expected))) {
                    throw new IllegalArgumentException(c.source() + ": config key '" + key + "' = " + types
                            + " is not supported (" + ch.length + " × " + expected + ")");
                }
            }
        }
        if (c.has("use_quant_conv") && !c.getBoolean("use_quant_conv", true)
                || c.has("use_post_quant_conv") && !c.getBoolean("use_post_quant_conv", true)) {
            throw new IllegalArgumentException(c.source() + ": VAEs without quant_conv/post_quant_conv are not supported yet");
        }
        if (!c.getBoolean("mid_block_add_attention", true)) {
            throw new IllegalArgumentException(c.source() + ": mid_block_add_attention = false is not supported yet");
        }
        return new AutoencoderKLConfig(c.getInt("in_channels", 3), c.getInt("out_channels", 3),
                c.getInt("latent_channels", 4), ch, c.getInt("layers_per_block", 1), c.getInt("norm_num_groups", 32),
                c.getDouble("scaling_factor", 0.18215), c.getInt("sample_size", 32));
    }
}
