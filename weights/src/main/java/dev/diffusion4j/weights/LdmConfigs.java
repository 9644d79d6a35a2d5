package dev.diffusion4j.weights;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Builds diffusers-style configs for the components of a single-file checkpoint: from the LDM yaml where it
 * says something (attention heads, channel multipliers, scale factor), otherwise from tensor shapes. What
 * neither gives (e.g. CLIP heads of a non-standard text encoder) is left out and said in the notes.
 */
final class LdmConfigs {
    private static final String U = "model.params.unet_config.params.";
    private static final String V = "model.params.first_stage_config.params.ddconfig.";

    private LdmConfigs() {
    }

    private static long[] shape(SafeTensors st, String key) {
        SafeTensors.Entry e = st.entries().get(key);
        return e == null ? null : e.shape();
    }

    static Map<String, Object> unet(SafeTensors st, Optional<LdmYaml> yaml, int layers, List<String> notes) {
        String p = Sd1KeyMap.UNET;
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("_class_name", "UNet2DConditionModel");
        c.put("_source", yaml.isPresent() ? "LDM yaml + tensor shapes" : "tensor shapes (no LDM yaml)");
        long[] convIn = shape(st, p + "input_blocks.0.0.weight");
        long[] convOut = shape(st, p + "out.2.weight");
        if (convIn == null || convOut == null) {
            notes.add("unet: conv_in/conv_out weights absent, no config");
            return null;
        }
        c.put("in_channels", (int) convIn[1]);
        c.put("out_channels", (int) convOut[0]);
        int per = layers + 1;
        List<Integer> boc = new ArrayList<>();
        List<String> down = new ArrayList<>();
        for (int level = 0; ; level++) {
            long[] w = shape(st, p + "input_blocks." + (1 + level * per) + ".0.out_layers.3.weight");
            if (w == null) {
                break;
            }
            boc.add((int) w[0]);
            boolean attn = st.contains(p + "input_blocks." + (1 + level * per) + ".1.proj_in.weight");
            down.add(attn ? "CrossAttnDownBlock2D" : "DownBlock2D");
        }
        List<String> up = new ArrayList<>();
        for (int i = boc.size() - 1; i >= 0; i--) {
            up.add(down.get(i).startsWith("CrossAttn") ? "CrossAttnUpBlock2D" : "UpBlock2D");
        }
        c.put("block_out_channels", boc);
        c.put("layers_per_block", layers);
        c.put("down_block_types", down);
        c.put("up_block_types", up);
        c.put("mid_block_type", "UNetMidBlock2DCrossAttn");
        long[] k = shape(st, p + "middle_block.1.transformer_blocks.0.attn2.to_k.weight");
        if (k != null) {
            c.put("cross_attention_dim", (int) k[1]);
        }
        int depth = 0;
        while (st.contains(p + "middle_block.1.transformer_blocks." + depth + ".norm1.weight")) {
            depth++;
        }
        c.put("transformer_layers_per_block", Math.max(1, depth));
        long[] projIn = shape(st, p + "middle_block.1.proj_in.weight");
        c.put("use_linear_projection", projIn != null && projIn.length == 2);
        c.put("norm_num_groups", 32);
        c.put("norm_eps", 1e-5);
        c.put("flip_sin_to_cos", true);
        c.put("freq_shift", 0);
        c.put("act_fn", "silu");
        if (yaml.isPresent()) {
            LdmYaml y = yaml.get();
            Optional<Long> heads = y.getLong(U + "num_heads").filter(h -> h > 0);
            Optional<Long> headCh = y.getLong(U + "num_head_channels").filter(h -> h > 0);
            if (heads.isPresent()) {
                c.put("attention_head_dim", heads.get().intValue()); // diffusers' SD1 quirk: this is the head COUNT
            } else if (headCh.isPresent()) {
                List<Integer> perBlock = new ArrayList<>();
                for (int ch : boc) {
                    perBlock.add((int) (ch / headCh.get()));
                }
                c.put("attention_head_dim", perBlock);
            }
            y.getLongList(U + "channel_mult").ifPresent(mult -> {
                Optional<Long> mc = y.getLong(U + "model_channels");
                if (mc.isPresent()) {
                    List<Integer> fromYaml = mult.stream().map(m -> (int) (m * mc.get())).toList();
                    if (!fromYaml.equals(boc)) {
                        notes.add("unet: yaml channels " + fromYaml + " differ from the weights' " + boc
                                + " (weights used)");
                    }
                }
            });
            // LatentDiffusion's image_size is the latent size (unet_config's own image_size is unused).
            y.getLong("model.params.image_size").ifPresent(s -> c.put("sample_size", s.intValue()));
        } else {
            notes.add("unet: attention heads unknown (not in the weights; give the LDM yaml)");
        }
        return c;
    }

    static Map<String, Object> vae(SafeTensors st, Optional<LdmYaml> yaml, List<String> notes) {
        String p = Sd1KeyMap.VAE;
        int levels = Checkpoint.countIndices(st, p + "encoder.down.");
        long[] convIn = shape(st, p + "encoder.conv_in.weight");
        long[] convOut = shape(st, p + "decoder.conv_out.weight");
        long[] quant = shape(st, p + "post_quant_conv.weight");
        if (levels == 0 || convIn == null || convOut == null || quant == null) {
            notes.add("vae: weights incomplete, no config");
            return null;
        }
        List<Integer> boc = new ArrayList<>();
        for (int i = 0; i < levels; i++) {
            long[] w = shape(st, p + "encoder.down." + i + ".block.0.conv1.weight");
            if (w == null) {
                notes.add("vae: encoder level " + i + " has no block 0, no config");
                return null;
            }
            boc.add((int) w[0]);
        }
        int layers = Checkpoint.countIndices(st, p + "encoder.down.0.block.");
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("_class_name", "AutoencoderKL");
        c.put("_source", "tensor shapes" + (yaml.isPresent() ? " + LDM yaml" : ""));
        c.put("in_channels", (int) convIn[1]);
        c.put("out_channels", (int) convOut[0]);
        c.put("latent_channels", (int) quant[0]);
        c.put("block_out_channels", boc);
        c.put("layers_per_block", layers);
        c.put("down_block_types", java.util.Collections.nCopies(levels, "DownEncoderBlock2D"));
        c.put("up_block_types", java.util.Collections.nCopies(levels, "UpDecoderBlock2D"));
        c.put("norm_num_groups", 32);
        c.put("act_fn", "silu");
        Optional<Object> scale = yaml.flatMap(y -> y.get("model.params.scale_factor"));
        if (scale.isPresent() && scale.get() instanceof Number n) {
            c.put("scaling_factor", n.doubleValue());
        } else {
            c.put("scaling_factor", 0.18215);
            notes.add("vae: scaling_factor not given, SD1 default 0.18215 assumed");
        }
        yaml.flatMap(y -> y.getLong(V + "num_res_blocks")).ifPresent(n -> {
            if (n.intValue() != layers) {
                notes.add("vae: yaml num_res_blocks " + n + " differs from the weights' " + layers + " (weights used)");
            }
        });
        return c;
    }

    static Map<String, Object> textEncoder(SafeTensors st, List<String> notes) {
        String p = Sd1KeyMap.CLIP + "text_model.";
        long[] tok = shape(st, p + "embeddings.token_embedding.weight");
        long[] pos = shape(st, p + "embeddings.position_embedding.weight");
        long[] fc1 = shape(st, p + "encoder.layers.0.mlp.fc1.weight");
        if (tok == null || pos == null || fc1 == null) {
            notes.add("text_encoder: weights incomplete (or pre-4.20 transformers names), no config");
            return null;
        }
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("architectures", List.of("CLIPTextModel"));
        c.put("_source", "tensor shapes");
        c.put("vocab_size", (int) tok[0]);
        c.put("hidden_size", (int) tok[1]);
        c.put("max_position_embeddings", (int) pos[0]);
        c.put("intermediate_size", (int) fc1[0]);
        c.put("num_hidden_layers", Checkpoint.countIndices(st, p + "encoder.layers."));
        c.put("hidden_act", "quick_gelu");
        c.put("layer_norm_eps", 1e-5);
        if (tok[1] == 768) {
            c.put("num_attention_heads", 12); // SD1's text encoder is CLIP ViT-L/14: 12 heads of 64
        } else {
            notes.add("text_encoder: attention heads unknown (hidden size " + tok[1]
                    + " is not CLIP ViT-L's 768, and neither the weights nor the yaml say); must come from elsewhere");
        }
        return c;
    }

    /** The HF config of an SD 2.x OpenCLIP text encoder: one layer fewer than the file (penultimate layer). */
    static Map<String, Object> openClipTextEncoder(SafeTensors st, List<String> notes) {
        String p = OpenClipKeyMap.PREFIX;
        long[] tok = shape(st, p + "token_embedding.weight");
        long[] pos = shape(st, p + "positional_embedding");
        long[] fc1 = shape(st, p + "transformer.resblocks.0.mlp.c_fc.weight");
        if (tok == null || pos == null || fc1 == null) {
            notes.add("text_encoder: OpenCLIP weights incomplete, no config");
            return null;
        }
        int blocks = Checkpoint.countIndices(st, p + "transformer.resblocks.");
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("architectures", List.of("CLIPTextModel"));
        c.put("_source", "tensor shapes (OpenCLIP)");
        c.put("vocab_size", (int) tok[0]);
        c.put("hidden_size", (int) tok[1]);
        c.put("max_position_embeddings", (int) pos[0]);
        c.put("intermediate_size", (int) fc1[0]);
        c.put("num_hidden_layers", Math.max(1, blocks - 1));
        c.put("hidden_act", "gelu");
        c.put("layer_norm_eps", 1e-5);
        c.put("pad_token_id", 1);
        if (tok[1] % 64 == 0 && tok[1] >= 512) {
            c.put("num_attention_heads", (int) (tok[1] / 64)); // OpenCLIP text towers use 64-channel heads (ViT-H: 16)
        } else {
            notes.add("text_encoder: attention heads unknown (hidden size " + tok[1] + " is not a multiple of 64 heads);"
                    + " must come from elsewhere");
        }
        return c;
    }
}
