package dev.diffusion4j.nn.clip;

import com.fasterxml.jackson.jr.ob.JSON;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The fields of an HF {@code CLIPTextConfig} ({@code text_encoder/config.json}) that the forward pass needs.
 *
 * @param hiddenSize            channels per token (768 for SD1.x, 1024 for SD2.x)
 * @param numHiddenLayers       encoder layers (12 / 23 after SD2's truncation)
 * @param numAttentionHeads     attention heads (hidden size must be divisible by it)
 * @param intermediateSize      MLP width
 * @param hiddenAct             {@code quick_gelu} (SD1.x), {@code gelu} (SD2.x, exact), or
 *                              {@code gelu_new}/{@code gelu_pytorch_tanh} (tanh approximation)
 * @param layerNormEps          epsilon of every layer norm
 * @param maxPositionEmbeddings context length (77)
 * @param vocabSize             token embedding rows (49408)
 * @param eosTokenId            EOS id used for pooling, or 2 for legacy configs (then pooling uses argmax(ids) as
 *                              transformers does; real SD1.5 configs say 2)
 */
public record CLIPTextConfig(int hiddenSize, int numHiddenLayers, int numAttentionHeads, int intermediateSize,
                             String hiddenAct, float layerNormEps, int maxPositionEmbeddings, int vocabSize,
                             int eosTokenId) {

    /** Validates the configuration. */
    public CLIPTextConfig {
        if (hiddenSize <= 0 || numHiddenLayers <= 0 || numAttentionHeads <= 0 || intermediateSize <= 0
                || maxPositionEmbeddings <= 0 || vocabSize <= 0) {
            throw new IllegalArgumentException("CLIPTextConfig: sizes must be positive: " + describe(hiddenSize,
                    numHiddenLayers, numAttentionHeads, intermediateSize, maxPositionEmbeddings, vocabSize));
        }
        if (hiddenSize % numAttentionHeads != 0) {
            throw new IllegalArgumentException("CLIPTextConfig: hidden_size " + hiddenSize
                    + " is not divisible by num_attention_heads " + numAttentionHeads);
        }
        switch (hiddenAct) {
            case "quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh" -> { }
            default -> throw new IllegalArgumentException("CLIPTextConfig: unsupported hidden_act '" + hiddenAct + "'");
        }
        if (!(layerNormEps > 0)) {
            throw new IllegalArgumentException("CLIPTextConfig: layer_norm_eps must be > 0, got " + layerNormEps);
        }
    }

    private static String describe(int... v) {
        return java.util.Arrays.toString(v);
    }

    /** Head size ({@code hiddenSize / numAttentionHeads}). */
    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    /**
     * Reads an HF {@code config.json}. Defaults are CLIPTextConfig's (512 hidden, 12 layers, 8 heads, 2048 MLP,
     * quick_gelu, eps 1e-5, 77 positions, 49408 tokens, eos 2).
     *
     * @param file the {@code config.json}
     * @throws IOException if it cannot be read or parsed
     */
    public static CLIPTextConfig load(Path file) throws IOException {
        Map<String, Object> m = JSON.std.mapFrom(Files.readString(file));
        return fromMap(m);
    }

    /** Builds the config from parsed JSON (see {@link #load}). */
    public static CLIPTextConfig fromMap(Map<String, Object> m) {
        return new CLIPTextConfig(
                intOf(m, "hidden_size", 512),
                intOf(m, "num_hidden_layers", 12),
                intOf(m, "num_attention_heads", 8),
                intOf(m, "intermediate_size", 2048),
                m.get("hidden_act") instanceof String s ? s : "quick_gelu",
                m.get("layer_norm_eps") instanceof Number n ? n.floatValue() : 1e-5f,
                intOf(m, "max_position_embeddings", 77),
                intOf(m, "vocab_size", 49408),
                intOf(m, "eos_token_id", 2));
    }

    private static int intOf(Map<String, Object> m, String key, int fallback) {
        Object v = m.get(key);
        if (v == null) {
            return fallback;
        }
        if (!(v instanceof Number n)) {
            throw new IllegalArgumentException("CLIPTextConfig: '" + key + "' is not a number: " + v);
        }
        return n.intValue();
    }
}
