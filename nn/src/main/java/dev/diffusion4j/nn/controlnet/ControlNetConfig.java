package dev.diffusion4j.nn.controlnet;

import dev.diffusion4j.nn.ModelConfig;
import dev.diffusion4j.nn.unet.UNet2DConditionConfig;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The keys of a diffusers ControlNet {@code config.json}: the U-Net encoder's keys (read with
 * {@link UNet2DConditionConfig}'s rules and defaults) plus the conditioning embedding's.
 *
 * @param unet the encoder half's structure (up-block entries are derived, and unused)
 * @param conditioningChannels channels of the control image ({@code conditioning_channels}, 3)
 * @param conditioningEmbeddingOutChannels widths of the conditioning embedding's conv stages
 *     ({@code conditioning_embedding_out_channels}, default (16, 32, 96, 256))
 * @param bgr true when the model wants the control image's channels in BGR order
 *     ({@code controlnet_conditioning_channel_order: "bgr"})
 * @param globalPoolConditions true when every residual is averaged over its spatial positions (e.g. shuffle
 *     ControlNets); the pipeline then runs it in guess mode, as diffusers does
 */
public record ControlNetConfig(UNet2DConditionConfig unet, int conditioningChannels,
                               int[] conditioningEmbeddingOutChannels, boolean bgr, boolean globalPoolConditions) {

    /** Reads and validates a config; unsupported features raise an exception naming the key. */
    public static ControlNetConfig from(ModelConfig c) {
        Map<String, Object> values = new LinkedHashMap<>(c.asMap());
        // A ControlNet has no up path: give the U-Net config reader the mirror image it expects.
        List<String> up = new ArrayList<>();
        for (String t : c.getStrings("down_block_types")) {
            up.addFirst(t.replace("Down", "Up"));
        }
        values.put("up_block_types", up);
        values.put("out_channels", c.getInt("in_channels", 4));
        UNet2DConditionConfig unet = UNet2DConditionConfig.from(new ModelConfig(c.source(), values));
        String order = c.getString("controlnet_conditioning_channel_order", "rgb");
        if (!order.equals("rgb") && !order.equals("bgr")) {
            throw new IllegalArgumentException(c.source() + ": controlnet_conditioning_channel_order '" + order
                    + "' is not rgb or bgr");
        }
        int[] embed = c.has("conditioning_embedding_out_channels")
                ? c.getInts("conditioning_embedding_out_channels", 0, null) : new int[] {16, 32, 96, 256};
        if (embed.length < 1) {
            throw new IllegalArgumentException(c.source() + ": conditioning_embedding_out_channels is empty");
        }
        return new ControlNetConfig(unet, c.getInt("conditioning_channels", 3), embed, order.equals("bgr"),
                c.getBoolean("global_pool_conditions", false));
    }
}
