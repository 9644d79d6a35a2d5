package dev.diffusion4j.weights;

import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Rules mapping the OpenCLIP text encoder of an SD 2.x single-file checkpoint ({@code cond_stage_model.model.*})
 * to HF {@code CLIPTextModel} keys, as diffusers' {@code convert_open_clip_checkpoint}: {@code resblocks.N} →
 * {@code encoder.layers.N}, {@code ln_1/ln_2} → {@code layer_norm1/2}, {@code mlp.c_fc/c_proj} → {@code mlp.fc1/fc2},
 * {@code ln_final} → {@code final_layer_norm}, and the fused {@code attn.in_proj_weight [3D, D]} /
 * {@code in_proj_bias [3D]} split into {@code q_proj}, {@code k_proj}, {@code v_proj} (rows 0..D, D..2D, 2D..3D).
 *
 * <p>SD 2.x conditions on the penultimate layer ({@code FrozenOpenCLIPEmbedder(layer="penultimate")}): the last
 * resblock is never run, and diffusers' SD 2 text encoder config has one layer fewer than the file. That block, and
 * {@code text_projection} and {@code logit_scale} (unused by the U-Net's conditioning), are ignored and reported.
 */
final class OpenClipKeyMap {
    static final String PREFIX = "cond_stage_model.model.";
    private static final Pattern BLOCK = Pattern.compile("transformer\\.resblocks\\.(\\d+)\\.(.+)");

    /** One internal key; {@code rowOffset} -1 = the whole stored tensor, else a row slice of {@code shape[0]} rows. */
    record Target(String key, long[] shape, long rowOffset) {
    }

    private final int resblocks;

    /** Rules for a file with {@code resblocks} transformer blocks (the last one is ignored). */
    OpenClipKeyMap(int resblocks) {
        this.resblocks = resblocks;
    }

    /** Number of resblocks in the file (0 when it has no OpenCLIP text encoder). */
    int resblocks() {
        return resblocks;
    }

    /** Why {@code key} is deliberately not loaded, or empty. */
    Optional<String> ignoreReason(String key) {
        String k = key.substring(PREFIX.length());
        if (k.equals("text_projection") || k.equals("logit_scale")) {
            return Optional.of("OpenCLIP " + k + " (not used for SD 2.x conditioning)");
        }
        Matcher m = BLOCK.matcher(k);
        if (m.matches() && Integer.parseInt(m.group(1)) == resblocks - 1) {
            return Optional.of("last OpenCLIP resblock (SD 2.x uses the penultimate layer; diffusers' config has one"
                    + " layer fewer)");
        }
        return Optional.empty();
    }

    /** The internal keys of stored {@code key} with stored shape {@code shape}; empty when no rule maps it. */
    List<Target> map(String key, long[] shape) {
        String k = key.substring(PREFIX.length());
        String t = "text_model.";
        switch (k) {
            case "token_embedding.weight":
                return whole(t + "embeddings.token_embedding.weight", shape);
            case "positional_embedding":
                return whole(t + "embeddings.position_embedding.weight", shape);
            case "ln_final.weight", "ln_final.bias":
                return whole(t + "final_layer_norm." + k.substring("ln_final.".length()), shape);
            default:
                break;
        }
        Matcher m = BLOCK.matcher(k);
        if (!m.matches()) {
            return List.of();
        }
        String p = t + "encoder.layers." + m.group(1) + ".";
        String rest = m.group(2);
        String[][] names = {{"ln_1.", "layer_norm1."}, {"ln_2.", "layer_norm2."}, {"mlp.c_fc.", "mlp.fc1."},
            {"mlp.c_proj.", "mlp.fc2."}, {"attn.out_proj.", "self_attn.out_proj."}};
        for (String[] n : names) {
            if (rest.startsWith(n[0])) {
                return whole(p + n[1] + rest.substring(n[0].length()), shape);
            }
        }
        if (rest.equals("attn.in_proj_weight") || rest.equals("attn.in_proj_bias")) {
            if (shape.length == 0 || shape[0] % 3 != 0) {
                return List.of();
            }
            long d = shape[0] / 3;
            String suffix = rest.endsWith("weight") ? "weight" : "bias";
            long[] part = shape.clone();
            part[0] = d;
            return List.of(new Target(p + "self_attn.q_proj." + suffix, part, 0),
                    new Target(p + "self_attn.k_proj." + suffix, part, d),
                    new Target(p + "self_attn.v_proj." + suffix, part, 2 * d));
        }
        return List.of();
    }

    private static List<Target> whole(String key, long[] shape) {
        return List.of(new Target(key, shape, -1));
    }
}
