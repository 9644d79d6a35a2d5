package dev.diffusion4j.weights;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The diffusers keys an SD1.x-style component must have, derived from its diffusers {@code config.json}
 * (the same arithmetic as the diffusers/transformers constructors), so that missing weights can be reported.
 */
public final class ExpectedKeys {
    private ExpectedKeys() {
    }

    /** Expected keys of {@code component} ("unet", "vae", "text_encoder") with config {@code cfg}, if known. */
    public static Optional<Set<String>> of(String component, Map<String, Object> cfg) {
        if (!knownArchitecture(component, cfg)) {
            return Optional.empty();
        }
        try {
            return switch (component) {
                case "unet" -> Optional.of(unet(cfg));
                case "vae" -> Optional.of(vae(cfg));
                case "text_encoder" -> Optional.of(clip(cfg));
                case "text_encoder_2" -> Optional.of(clipWithProjection(cfg));
                default -> Optional.empty();
            };
        } catch (RuntimeException e) {
            return Optional.empty(); // config of another shape (SDXL, ...): no expectation
        }
    }

    /** Only the SD1.x-style classes are described here; other configs (SDXL, TAESD, ...) get no expectation. */
    private static boolean knownArchitecture(String component, Map<String, Object> cfg) {
        Object cls = cfg.get("_class_name");
        return switch (component) {
            case "unet" -> "UNet2DConditionModel".equals(cls)
                    && (cfg.get("addition_embed_type") == null || "text_time".equals(cfg.get("addition_embed_type")))
                    && cfg.get("reverse_transformer_layers_per_block") == null
                    && (cfg.get("mid_block_type") == null || "UNetMidBlock2DCrossAttn".equals(cfg.get("mid_block_type")));
            case "vae" -> "AutoencoderKL".equals(cls);
            case "text_encoder" -> cfg.get("architectures") instanceof List<?> l && l.contains("CLIPTextModel");
            case "text_encoder_2" -> cfg.get("architectures") instanceof List<?> l
                    && l.contains("CLIPTextModelWithProjection");
            default -> false;
        };
    }

    private static List<Integer> ints(Map<String, Object> cfg, String key) {
        Object v = cfg.get(key);
        if (!(v instanceof List<?> l)) {
            throw new IllegalArgumentException("config has no list '" + key + "'");
        }
        List<Integer> out = new ArrayList<>();
        for (Object o : l) {
            out.add(((Number) o).intValue());
        }
        return out;
    }

    private static int integer(Map<String, Object> cfg, String key, int dflt) {
        Object v = cfg.get(key);
        return v instanceof Number n ? n.intValue() : dflt;
    }

    private static void wb(Set<String> out, String prefix) {
        out.add(prefix + ".weight");
        out.add(prefix + ".bias");
    }

    static Set<String> unet(Map<String, Object> cfg) {
        List<Integer> boc = ints(cfg, "block_out_channels");
        int layers = integer(cfg, "layers_per_block", 2);
        @SuppressWarnings("unchecked")
        List<String> down = (List<String>) cfg.get("down_block_types");
        @SuppressWarnings("unchecked")
        List<String> up = (List<String>) cfg.get("up_block_types");
        int n = boc.size();
        // transformer_layers_per_block: one number, or one per down block (SDXL); the up path uses it reversed and
        // the mid block the last entry.
        int[] depths = new int[n];
        if (cfg.get("transformer_layers_per_block") instanceof List<?>) {
            List<Integer> d = ints(cfg, "transformer_layers_per_block");
            if (d.size() != n) {
                throw new IllegalArgumentException("transformer_layers_per_block has " + d.size() + " entries");
            }
            for (int i = 0; i < n; i++) {
                depths[i] = d.get(i);
            }
        } else {
            java.util.Arrays.fill(depths, integer(cfg, "transformer_layers_per_block", 1));
        }
        Set<String> out = new LinkedHashSet<>();
        wb(out, "conv_in");
        wb(out, "time_embedding.linear_1");
        wb(out, "time_embedding.linear_2");
        if ("text_time".equals(cfg.get("addition_embed_type"))) {
            wb(out, "add_embedding.linear_1");
            wb(out, "add_embedding.linear_2");
        }
        for (int i = 0; i < n; i++) {
            int outCh = boc.get(i);
            int inCh = i == 0 ? boc.get(0) : boc.get(i - 1);
            for (int j = 0; j < layers; j++) {
                unetResnet(out, "down_blocks." + i + ".resnets." + j, j == 0 ? inCh : outCh, outCh);
                if (down.get(i).startsWith("CrossAttn")) {
                    transformer(out, "down_blocks." + i + ".attentions." + j, depths[i]);
                }
            }
            if (i < n - 1) {
                wb(out, "down_blocks." + i + ".downsamplers.0.conv");
            }
        }
        int last = boc.get(n - 1);
        unetResnet(out, "mid_block.resnets.0", last, last);
        transformer(out, "mid_block.attentions.0", depths[n - 1]);
        unetResnet(out, "mid_block.resnets.1", last, last);
        int prevOut = boc.get(n - 1);
        for (int i = 0; i < n; i++) {
            int outCh = boc.get(n - 1 - i);
            int inCh = boc.get(n - 1 - Math.min(i + 1, n - 1));
            for (int j = 0; j <= layers; j++) {
                int skip = j == layers ? inCh : outCh;
                int resIn = j == 0 ? prevOut : outCh;
                unetResnet(out, "up_blocks." + i + ".resnets." + j, resIn + skip, outCh);
                if (up.get(i).startsWith("CrossAttn")) {
                    transformer(out, "up_blocks." + i + ".attentions." + j, depths[n - 1 - i]);
                }
            }
            if (i < n - 1) {
                wb(out, "up_blocks." + i + ".upsamplers.0.conv");
            }
            prevOut = outCh;
        }
        wb(out, "conv_norm_out");
        wb(out, "conv_out");
        return out;
    }

    private static void unetResnet(Set<String> out, String p, int in, int outCh) {
        wb(out, p + ".norm1");
        wb(out, p + ".conv1");
        wb(out, p + ".time_emb_proj");
        wb(out, p + ".norm2");
        wb(out, p + ".conv2");
        if (in != outCh) {
            wb(out, p + ".conv_shortcut");
        }
    }

    private static void transformer(Set<String> out, String p, int depth) {
        wb(out, p + ".norm");
        wb(out, p + ".proj_in");
        for (int t = 0; t < depth; t++) {
            String b = p + ".transformer_blocks." + t;
            wb(out, b + ".norm1");
            wb(out, b + ".norm2");
            wb(out, b + ".norm3");
            for (String a : new String[] {".attn1", ".attn2"}) {
                out.add(b + a + ".to_q.weight");
                out.add(b + a + ".to_k.weight");
                out.add(b + a + ".to_v.weight");
                wb(out, b + a + ".to_out.0");
            }
            wb(out, b + ".ff.net.0.proj");
            wb(out, b + ".ff.net.2");
        }
        wb(out, p + ".proj_out");
    }

    static Set<String> vae(Map<String, Object> cfg) {
        List<Integer> boc = ints(cfg, "block_out_channels");
        int layers = integer(cfg, "layers_per_block", 1);
        int n = boc.size();
        Set<String> out = new LinkedHashSet<>();
        wb(out, "encoder.conv_in");
        for (int i = 0; i < n; i++) {
            int outCh = boc.get(i);
            int inCh = i == 0 ? boc.get(0) : boc.get(i - 1);
            for (int j = 0; j < layers; j++) {
                vaeResnet(out, "encoder.down_blocks." + i + ".resnets." + j, j == 0 ? inCh : outCh, outCh);
            }
            if (i < n - 1) {
                wb(out, "encoder.down_blocks." + i + ".downsamplers.0.conv");
            }
        }
        vaeMid(out, "encoder.mid_block", boc.get(n - 1));
        wb(out, "encoder.conv_norm_out");
        wb(out, "encoder.conv_out");
        wb(out, "quant_conv");
        wb(out, "post_quant_conv");
        wb(out, "decoder.conv_in");
        vaeMid(out, "decoder.mid_block", boc.get(n - 1));
        int prevOut = boc.get(n - 1);
        for (int i = 0; i < n; i++) {
            int outCh = boc.get(n - 1 - i);
            for (int j = 0; j <= layers; j++) {
                vaeResnet(out, "decoder.up_blocks." + i + ".resnets." + j, j == 0 ? prevOut : outCh, outCh);
            }
            if (i < n - 1) {
                wb(out, "decoder.up_blocks." + i + ".upsamplers.0.conv");
            }
            prevOut = outCh;
        }
        wb(out, "decoder.conv_norm_out");
        wb(out, "decoder.conv_out");
        return out;
    }

    private static void vaeResnet(Set<String> out, String p, int in, int outCh) {
        wb(out, p + ".norm1");
        wb(out, p + ".conv1");
        wb(out, p + ".norm2");
        wb(out, p + ".conv2");
        if (in != outCh) {
            wb(out, p + ".conv_shortcut");
        }
    }

    private static void vaeMid(Set<String> out, String p, int ch) {
        vaeResnet(out, p + ".resnets.0", ch, ch);
        wb(out, p + ".attentions.0.group_norm");
        wb(out, p + ".attentions.0.to_q");
        wb(out, p + ".attentions.0.to_k");
        wb(out, p + ".attentions.0.to_v");
        wb(out, p + ".attentions.0.to_out.0");
        vaeResnet(out, p + ".resnets.1", ch, ch);
    }

    static Set<String> clip(Map<String, Object> cfg) {
        int layers = integer(cfg, "num_hidden_layers", -1);
        if (layers < 0) {
            throw new IllegalArgumentException("no num_hidden_layers");
        }
        Set<String> out = new LinkedHashSet<>();
        out.add("text_model.embeddings.token_embedding.weight");
        out.add("text_model.embeddings.position_embedding.weight");
        for (int l = 0; l < layers; l++) {
            String p = "text_model.encoder.layers." + l;
            for (String s : new String[] {".self_attn.q_proj", ".self_attn.k_proj", ".self_attn.v_proj",
                ".self_attn.out_proj", ".layer_norm1", ".mlp.fc1", ".mlp.fc2", ".layer_norm2"}) {
                wb(out, p + s);
            }
        }
        wb(out, "text_model.final_layer_norm");
        return out;
    }

    /** HF {@code CLIPTextModelWithProjection}: the text model plus {@code text_projection.weight} (no bias). */
    static Set<String> clipWithProjection(Map<String, Object> cfg) {
        Set<String> out = clip(cfg);
        out.add("text_projection.weight");
        return out;
    }
}
