package dev.diffusion4j.nn.clip;

import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.SafeTensors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;

/**
 * CLIP's text transformer (HF {@code CLIPTextModel}), the text encoder of Stable Diffusion.
 *
 * <p>Forward pass for ids {@code [B, T]}: token embedding + position embedding → {@code L} pre-LayerNorm encoder
 * layers ({@code h += out_proj(attn(LN1(h)))} with causal self-attention, then {@code h += fc2(act(fc1(LN2(h))))})
 * → final layer norm. No padding mask is applied (diffusers passes none for SD), so padding tokens attend to
 * everything before them, exactly as in the reference.
 *
 * <p>Clip skip ({@link #encode(int[][], int)}) uses A1111's numbering: 1 = the normal output
 * ({@code final_layer_norm} of the last layer), 2 = {@code final_layer_norm} of the penultimate layer's output, and
 * so on. diffusers counts from 0 instead: its {@code clip_skip=1} is A1111's "Clip skip 2" (and diffusers 0.27
 * ignores clip skip for the negative prompt — that policy belongs to the pipeline, not to this class).
 *
 * <p>All arithmetic goes through the {@link Backend}; only the embedding lookup (a row gather) and the pooled-row
 * gather are done here. Weights stay in whatever storage/dtype they were loaded in (e.g. memory-mapped F16).
 * Thread-safe after construction (it holds no mutable state); {@link #close()} releases a file opened by
 * {@link #load}.
 */
public final class CLIPTextModel implements AutoCloseable {

    /**
     * Result of a full forward pass.
     *
     * @param lastHiddenState {@code [B, T, D]}: final layer norm of the last layer (what the UNet receives)
     * @param pooled          {@code [B, D]}: rows of {@code lastHiddenState} at {@code poolIndex}
     * @param poolIndex       per batch row, the pooled position (first EOS; argmax(ids) for legacy configs)
     * @param hiddenStates    {@code L + 1} tensors {@code [B, T, D]}: embeddings, then each layer's output (not
     *                        normalised), as HF's {@code output_hidden_states}
     */
    public record Output(Tensor lastHiddenState, Tensor pooled, int[] poolIndex, List<Tensor> hiddenStates) {
    }

    private record Layer(Tensor ln1W, Tensor ln1B, Tensor qW, Tensor qB, Tensor kW, Tensor kB, Tensor vW, Tensor vB,
                         Tensor oW, Tensor oB, Tensor ln2W, Tensor ln2B, Tensor fc1W, Tensor fc1B, Tensor fc2W,
                         Tensor fc2B) {
    }

    /** Key prefix of diffusers/HF {@code text_encoder/model.safetensors}. */
    public static final String DIFFUSERS_PREFIX = "text_model.";
    /** Key prefix of the text encoder in original (CompVis/A1111) SD1.x single-file checkpoints. */
    public static final String SINGLE_FILE_PREFIX = "cond_stage_model.transformer.text_model.";

    private final CLIPTextConfig config;
    private final Backend backend;
    private final Tensor tokenEmbedding;
    private final float[] positionEmbedding;   // heap copy: small, and sliced per sequence length
    private final Layer[] layers;
    private final Tensor finalLnW;
    private final Tensor finalLnB;
    /** {@code text_projection.weight [P, D]} of a "with projection" model (SDXL's second encoder), else null. */
    private final Tensor textProjection;
    private final AutoCloseable owned;

    private CLIPTextModel(CLIPTextConfig config, Function<String, Tensor> weights, String prefix, Backend backend,
                          AutoCloseable owned) {
        this(config, weights, prefix, null, backend, owned);
    }

    private CLIPTextModel(CLIPTextConfig config, Function<String, Tensor> weights, String prefix,
                          String projectionKey, Backend backend, AutoCloseable owned) {
        this.config = Objects.requireNonNull(config, "config");
        this.backend = Objects.requireNonNull(backend, "backend");
        this.owned = owned;
        int d = config.hiddenSize();
        int f = config.intermediateSize();
        WeightReader w = new WeightReader(weights, prefix);
        this.tokenEmbedding = w.get("embeddings.token_embedding.weight", config.vocabSize(), d);
        this.positionEmbedding = w.get("embeddings.position_embedding.weight", config.maxPositionEmbeddings(), d)
                .toFloatArray();
        this.layers = new Layer[config.numHiddenLayers()];
        for (int i = 0; i < layers.length; i++) {
            String p = "encoder.layers." + i + ".";
            layers[i] = new Layer(
                    w.get(p + "layer_norm1.weight", d), w.get(p + "layer_norm1.bias", d),
                    w.get(p + "self_attn.q_proj.weight", d, d), w.get(p + "self_attn.q_proj.bias", d),
                    w.get(p + "self_attn.k_proj.weight", d, d), w.get(p + "self_attn.k_proj.bias", d),
                    w.get(p + "self_attn.v_proj.weight", d, d), w.get(p + "self_attn.v_proj.bias", d),
                    w.get(p + "self_attn.out_proj.weight", d, d), w.get(p + "self_attn.out_proj.bias", d),
                    w.get(p + "layer_norm2.weight", d), w.get(p + "layer_norm2.bias", d),
                    w.get(p + "mlp.fc1.weight", f, d), w.get(p + "mlp.fc1.bias", f),
                    w.get(p + "mlp.fc2.weight", d, f), w.get(p + "mlp.fc2.bias", d));
        }
        this.finalLnW = w.get("final_layer_norm.weight", d);
        this.finalLnB = w.get("final_layer_norm.bias", d);
        this.textProjection = projectionKey == null ? null : projection(weights, projectionKey, d);
    }

    private static Tensor projection(Function<String, Tensor> weights, String key, int d) {
        Tensor t;
        try {
            t = weights.apply(key);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("CLIPTextModel: cannot read weight '" + key + "': " + e.getMessage(), e);
        }
        if (t == null) {
            throw new IllegalArgumentException("CLIPTextModel: missing weight '" + key + "' (with projection)");
        }
        if (t.rank() != 2 || t.dim(1) != d) {
            throw new IllegalArgumentException("CLIPTextModel: weight '" + key + "' has shape " + t.shape()
                    + ", expected [projection_dim, " + d + "]");
        }
        return t;
    }

    private record WeightReader(Function<String, Tensor> weights, String prefix) {
        Tensor get(String key, int... dims) {
            Tensor t;
            try {
                t = weights.apply(prefix + key);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("CLIPTextModel: cannot read weight '" + prefix + key + "': "
                        + e.getMessage(), e);
            }
            if (t == null) {
                throw new IllegalArgumentException("CLIPTextModel: missing weight '" + prefix + key + "'");
            }
            if (!t.shape().equals(Shape.of(dims))) {
                throw new IllegalArgumentException("CLIPTextModel: weight '" + prefix + key + "' has shape " + t.shape()
                        + ", config expects " + Shape.of(dims));
            }
            return t;
        }
    }

    /**
     * Loads a diffusers {@code text_encoder/} folder ({@code config.json} + {@code model.safetensors}, memory-mapped;
     * the file stays open until {@link #close()}).
     *
     * @param folder  the folder
     * @param backend the backend to compute on
     * @throws IOException if a file cannot be read
     */
    public static CLIPTextModel load(Path folder, Backend backend) throws IOException {
        CLIPTextConfig config = CLIPTextConfig.load(folder.resolve("config.json"));
        Path file = folder.resolve("model.safetensors");
        if (!Files.isRegularFile(file)) {
            throw new IOException("CLIPTextModel.load: " + file + " not found");
        }
        SafeTensors st = SafeTensors.open(file);
        try {
            return new CLIPTextModel(config, st::tensor, DIFFUSERS_PREFIX, backend, st);
        } catch (RuntimeException e) {
            st.close();
            throw e;
        }
    }

    /**
     * Builds the model from any weight source, e.g. a single-file checkpoint with {@link #SINGLE_FILE_PREFIX}. The
     * caller keeps ownership of the source (it must outlive the model when its tensors are views).
     *
     * @param config  the configuration
     * @param weights full key → tensor (may return null or throw for a missing key)
     * @param prefix  prefix put before HF's key names inside {@code text_model} (e.g. {@link #DIFFUSERS_PREFIX})
     * @param backend the backend to compute on
     */
    public static CLIPTextModel of(CLIPTextConfig config, Function<String, Tensor> weights, String prefix,
                                   Backend backend) {
        return new CLIPTextModel(config, weights, prefix, backend, null);
    }

    /**
     * Loads a diffusers {@code text_encoder_2/} folder of HF {@code CLIPTextModelWithProjection} (SDXL's OpenCLIP
     * bigG encoder): as {@link #load}, plus {@code text_projection.weight [projection_dim, hidden]} (no bias).
     */
    public static CLIPTextModel loadWithProjection(Path folder, Backend backend) throws IOException {
        CLIPTextConfig config = CLIPTextConfig.load(folder.resolve("config.json"));
        Path file = folder.resolve("model.safetensors");
        if (!Files.isRegularFile(file)) {
            throw new IOException("CLIPTextModel.loadWithProjection: " + file + " not found");
        }
        SafeTensors st = SafeTensors.open(file);
        try {
            return new CLIPTextModel(config, st::tensor, DIFFUSERS_PREFIX, PROJECTION_KEY, backend, st);
        } catch (RuntimeException e) {
            st.close();
            throw e;
        }
    }

    /** Key of the projection of HF {@code CLIPTextModelWithProjection} (outside {@code text_model.}). */
    public static final String PROJECTION_KEY = "text_projection.weight";

    /**
     * As {@link #of}, with the {@code text_projection} weight {@code [P, D]} read from {@code projectionKey} (full
     * key, e.g. {@link #PROJECTION_KEY}); the caller keeps ownership of the source.
     */
    public static CLIPTextModel withProjection(CLIPTextConfig config, Function<String, Tensor> weights, String prefix,
                                               String projectionKey, Backend backend) {
        return new CLIPTextModel(config, weights, prefix, Objects.requireNonNull(projectionKey, "projectionKey"),
                backend, null);
    }

    /** True for a "with projection" model ({@link #textEmbeds} available). */
    public boolean hasProjection() {
        return textProjection != null;
    }

    /**
     * HF {@code CLIPTextModelWithProjection.text_embeds}: the pooled output (final layer norm at the pooled position)
     * times {@code text_projection} (no bias), {@code [B, P]}. SDXL's pooled prompt embedding.
     *
     * @throws IllegalStateException when the model has no projection
     */
    public Tensor textEmbeds(Output out) {
        if (textProjection == null) {
            throw new IllegalStateException("CLIPTextModel.textEmbeds: this model has no text_projection");
        }
        return backend.linear(out.pooled(), textProjection, null);
    }

    /** The configuration. */
    public CLIPTextConfig config() {
        return config;
    }

    /**
     * Token + position embeddings.
     *
     * @param ids {@code [B][T]} token ids, {@code 1 <= T <= max_position_embeddings}, all rows the same length
     * @return {@code [B, T, D]}
     */
    public Tensor embeddings(int[][] ids) {
        int t = checkIds(ids);
        int b = ids.length;
        int d = config.hiddenSize();
        float[] tok = new float[b * t * d];
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < t; j++) {
                Tensor row = tokenEmbedding.slice(ids[i][j]);
                int base = (i * t + j) * d;
                if (row.isHeap()) {
                    System.arraycopy(row.array(), row.offset(), tok, base, d);
                } else {
                    for (int c = 0; c < d; c++) {
                        tok[base + c] = row.getFlat(c);
                    }
                }
            }
        }
        Tensor pos = Tensor.of(positionEmbedding, 0, Shape.of(t, d));
        return backend.add(Tensor.of(tok, b, t, d), pos);
    }

    private int checkIds(int[][] ids) {
        if (ids == null || ids.length == 0 || ids[0] == null) {
            throw new IllegalArgumentException("CLIPTextModel: ids must be a non-empty [B][T] array");
        }
        int t = ids[0].length;
        if (t < 1 || t > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("CLIPTextModel: sequence length " + t + " is outside [1, "
                    + config.maxPositionEmbeddings() + "]");
        }
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] == null || ids[i].length != t) {
                throw new IllegalArgumentException("CLIPTextModel: row " + i + " of ids has length "
                        + (ids[i] == null ? "null" : ids[i].length) + ", row 0 has " + t);
            }
            for (int j = 0; j < t; j++) {
                if (ids[i][j] < 0 || ids[i][j] >= config.vocabSize()) {
                    throw new IllegalArgumentException("CLIPTextModel: ids[" + i + "][" + j + "] = " + ids[i][j]
                            + " is outside the vocabulary [0, " + config.vocabSize() + ")");
                }
            }
        }
        return t;
    }

    /** One pre-LN encoder layer on {@code [B, T, D]}. */
    private Tensor layer(Layer l, Tensor h) {
        float eps = config.layerNormEps();
        Tensor x = backend.layerNorm(h, l.ln1W, l.ln1B, eps);
        Tensor q = backend.linear(x, l.qW, l.qB);
        Tensor k = backend.linear(x, l.kW, l.kB);
        Tensor v = backend.linear(x, l.vW, l.vB);
        float scale = (float) (1.0 / Math.sqrt(config.headDim()));
        Tensor a = backend.attention(q, k, v, config.numAttentionHeads(), scale, true);
        h = backend.add(h, backend.linear(a, l.oW, l.oB));
        x = backend.layerNorm(h, l.ln2W, l.ln2B, eps);
        x = activation(backend.linear(x, l.fc1W, l.fc1B));
        return backend.add(h, backend.linear(x, l.fc2W, l.fc2B));
    }

    private Tensor activation(Tensor x) {
        return switch (config.hiddenAct()) {
            case "quick_gelu" -> backend.quickGelu(x);
            case "gelu" -> backend.gelu(x, false);
            default -> backend.gelu(x, true);   // gelu_new, gelu_pytorch_tanh
        };
    }

    /**
     * Full forward pass with every hidden state and the pooled output.
     *
     * @param ids {@code [B][T]} token ids (normally {@code T = 77} from {@link CLIPTokenizer#inputIds})
     */
    public Output forward(int[][] ids) {
        Tensor h = embeddings(ids);
        List<Tensor> hidden = new ArrayList<>(layers.length + 1);
        hidden.add(h);
        for (Layer l : layers) {
            h = layer(l, h);
            hidden.add(h);
        }
        Tensor last = backend.layerNorm(h, finalLnW, finalLnB, config.layerNormEps());
        int[] index = poolIndex(ids);
        return new Output(last, gatherRows(last, index), index, List.copyOf(hidden));
    }

    /**
     * The conditioning tensor with A1111-style clip skip: {@code final_layer_norm(hidden_states[-clipSkip])}. Layers
     * after the chosen one are not computed.
     *
     * @param ids      {@code [B][T]} token ids
     * @param clipSkip 1 = last layer (normal), 2 = penultimate (diffusers {@code clip_skip=1}), ... up to the
     *                 number of layers
     * @return {@code [B, T, D]}
     */
    public Tensor encode(int[][] ids, int clipSkip) {
        if (clipSkip < 1 || clipSkip > layers.length) {
            throw new IllegalArgumentException("CLIPTextModel.encode: clipSkip must be in [1, " + layers.length
                    + "], got " + clipSkip);
        }
        Tensor h = embeddings(ids);
        int run = layers.length - (clipSkip - 1);
        for (int i = 0; i < run; i++) {
            h = layer(layers[i], h);
        }
        return backend.layerNorm(h, finalLnW, finalLnB, config.layerNormEps());
    }

    /** {@link #encode(int[][], int)} without clip skip. */
    public Tensor encode(int[][] ids) {
        return encode(ids, 1);
    }

    /**
     * Conditioning for a long and/or weighted prompt (A1111 style): every chunk is encoded (as one batch), each
     * chunk's hidden states are re-weighted with {@link PromptWeighting#applyWeights} (skipped when all its weights
     * are 1), and the chunks are concatenated along the token axis.
     *
     * @param chunks   from {@link PromptWeighting#encode} / {@link PromptWeighting#chunk}; each {@code T} ids
     * @param clipSkip as in {@link #encode(int[][], int)}
     * @return {@code [1, chunks·T, D]}
     */
    public Tensor encodeChunks(List<PromptWeighting.WeightedChunk> chunks, int clipSkip) {
        if (chunks == null || chunks.isEmpty()) {
            throw new IllegalArgumentException("CLIPTextModel.encodeChunks: at least one chunk is required");
        }
        int[][] ids = new int[chunks.size()][];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = chunks.get(i).ids();
        }
        Tensor z = encode(ids, clipSkip);
        int t = z.dim(1);
        int d = z.dim(2);
        float[] all = z.toFloatArray();
        float[] out = new float[all.length];
        for (int i = 0; i < ids.length; i++) {
            float[] w = chunks.get(i).weights();
            if (w.length != t) {
                throw new IllegalArgumentException("CLIPTextModel.encodeChunks: chunk " + i + " has " + w.length
                        + " weights for " + t + " tokens");
            }
            Tensor chunk = Tensor.of(all, i * t * d, Shape.of(t, d));
            boolean plain = true;
            for (float v : w) {
                plain &= v == 1f;
            }
            Tensor weighted = plain ? chunk : PromptWeighting.applyWeights(chunk, w);
            System.arraycopy(weighted.toFloatArray(), 0, out, i * t * d, t * d);
        }
        return Tensor.of(out, 1, ids.length * t, d);
    }

    /**
     * The pooled position per row, as transformers computes it: the first {@code eos_token_id}, or argmax(ids)
     * (first maximum) for legacy configs whose {@code eos_token_id} is 2. Both give the first EOS (49407, the
     * largest id) for ordinary CLIP input. A row without EOS pools position 0 (transformers' behaviour).
     */
    public int[] poolIndex(int[][] ids) {
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            int[] row = ids[i];
            int best = 0;
            if (config.eosTokenId() == 2) {
                for (int j = 1; j < row.length; j++) {
                    if (row[j] > row[best]) {
                        best = j;
                    }
                }
            } else {
                for (int j = 0; j < row.length; j++) {
                    if (row[j] == config.eosTokenId()) {
                        best = j;
                        break;
                    }
                }
            }
            out[i] = best;
        }
        return out;
    }

    private static Tensor gatherRows(Tensor x, int[] index) {
        int b = x.dim(0);
        int t = x.dim(1);
        int d = x.dim(2);
        float[] all = x.toFloatArray();
        float[] out = new float[b * d];
        for (int i = 0; i < b; i++) {
            System.arraycopy(all, (i * t + index[i]) * d, out, i * d, d);
        }
        return Tensor.of(out, b, d);
    }

    @Override
    public void close() {
        if (owned != null) {
            try {
                owned.close();
            } catch (Exception e) {
                throw new IllegalStateException("CLIPTextModel: closing the weights failed", e);
            }
        }
    }
}
