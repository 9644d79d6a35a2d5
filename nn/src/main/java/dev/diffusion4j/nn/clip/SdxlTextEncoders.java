package dev.diffusion4j.nn.clip;

import dev.diffusion4j.tensor.Tensor;

import java.util.List;
import java.util.Objects;

/**
 * SDXL's two text encoders as diffusers' {@code StableDiffusionXLPipeline.encode_prompt} uses them: a CLIP ViT-L
 * ({@code text_encoder}) and an OpenCLIP bigG {@code CLIPTextModelWithProjection} ({@code text_encoder_2}).
 *
 * <p>{@code prompt_embeds = cat(te1.hidden_states[-2], te2.hidden_states[-2], -1)}: the penultimate layer's output of
 * both, with no final layer norm, te1's channels first. {@code pooled = te2.text_embeds}: te2's final layer norm at the
 * pooled position, times {@code text_projection}.
 *
 * @param first  {@code text_encoder} (no projection)
 * @param second {@code text_encoder_2} (with projection)
 */
public record SdxlTextEncoders(CLIPTextModel first, CLIPTextModel second) {

    /**
     * The conditioning of one batch.
     *
     * @param promptEmbeds {@code [B, T, D1 + D2]}
     * @param pooled       {@code [B, P]}
     */
    public record Encoded(Tensor promptEmbeds, Tensor pooled) {
    }

    /** Checks that the second encoder has a projection. */
    public SdxlTextEncoders {
        Objects.requireNonNull(first, "first");
        Objects.requireNonNull(second, "second");
        if (!second.hasProjection()) {
            throw new IllegalArgumentException("SdxlTextEncoders: text_encoder_2 needs a text_projection (HF "
                    + "CLIPTextModelWithProjection)");
        }
    }

    /** Channels of {@link Encoded#promptEmbeds} ({@code D1 + D2}, the U-Net's {@code cross_attention_dim}). */
    public int hiddenSize() {
        return first.config().hiddenSize() + second.config().hiddenSize();
    }

    /**
     * Encodes one batch.
     *
     * @param ids1 {@code [B][T]} ids of the first tokenizer (pads with EOS)
     * @param ids2 {@code [B][T]} ids of the second tokenizer (pads with {@code "!"}), same {@code B} and {@code T}
     */
    public Encoded encode(int[][] ids1, int[][] ids2) {
        return encode(ids1, ids2, 1);
    }

    /**
     * Encodes one batch with A1111-style clip skip: 1 = the usual penultimate layer ({@code hidden_states[-2]}),
     * {@code c} = {@code hidden_states[-(c + 1)]} of both encoders (diffusers' {@code clip_skip = c - 1}). The pooled
     * embedding always comes from the last layer.
     */
    public Encoded encode(int[][] ids1, int[][] ids2, int clipSkip) {
        int maxSkip = Math.min(first.config().numHiddenLayers(), second.config().numHiddenLayers());
        if (clipSkip < 1 || clipSkip > maxSkip) {
            throw new IllegalArgumentException("SdxlTextEncoders.encode: clipSkip must be in [1, " + maxSkip + "], got "
                    + clipSkip);
        }
        if (ids1 == null || ids2 == null || ids1.length != ids2.length || ids1.length == 0
                || ids1[0].length != ids2[0].length) {
            throw new IllegalArgumentException("SdxlTextEncoders.encode: ids1 and ids2 must both be [B][T] of the same"
                    + " shape, got " + describe(ids1) + " and " + describe(ids2));
        }
        CLIPTextModel.Output o1 = first.forward(ids1);
        CLIPTextModel.Output o2 = second.forward(ids2);
        Tensor h1 = fromEnd(o1.hiddenStates(), clipSkip + 1);
        Tensor h2 = fromEnd(o2.hiddenStates(), clipSkip + 1);
        return new Encoded(concatChannels(h1, h2), second.textEmbeds(o2));
    }

    /** {@code hidden_states[-k]} (index 0 = embeddings, L = last layer). */
    private static Tensor fromEnd(List<Tensor> hidden, int k) {
        return hidden.get(hidden.size() - k);
    }

    private static String describe(int[][] ids) {
        return ids == null ? "null" : "[" + ids.length + "][" + (ids.length == 0 || ids[0] == null ? 0 : ids[0].length)
                + "]";
    }

    /** {@code cat(a, b, -1)} of {@code [B, T, Da]} and {@code [B, T, Db]}. */
    static Tensor concatChannels(Tensor a, Tensor b) {
        if (a.rank() != 3 || b.rank() != 3 || a.dim(0) != b.dim(0) || a.dim(1) != b.dim(1)) {
            throw new IllegalArgumentException("SdxlTextEncoders.concatChannels: need [B, T, *] twice, got " + a.shape()
                    + " and " + b.shape());
        }
        int rows = a.dim(0) * a.dim(1);
        int da = a.dim(2);
        int db = b.dim(2);
        float[] fa = a.toFloatArray();
        float[] fb = b.toFloatArray();
        float[] out = new float[rows * (da + db)];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(fa, r * da, out, r * (da + db), da);
            System.arraycopy(fb, r * db, out, r * (da + db) + da, db);
        }
        return Tensor.of(out, a.dim(0), a.dim(1), da + db);
    }
}
