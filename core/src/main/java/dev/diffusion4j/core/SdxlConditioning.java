package dev.diffusion4j.core;

import dev.diffusion4j.nn.clip.CLIPTokenizer;
import dev.diffusion4j.nn.clip.CLIPTextModel;
import dev.diffusion4j.nn.clip.SdxlTextEncoders;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
import dev.diffusion4j.tensor.Tensor;

import java.util.Objects;

/**
 * SDXL's text conditioning, as diffusers' {@code StableDiffusionXLPipeline}: both tokenizers and encoders
 * ({@link SdxlTextEncoders}), the empty-negative-prompt zeroing rule ({@code force_zeros_for_empty_prompt}) and the
 * six {@code add_time_ids} (original size, crop top-left, target size).
 *
 * @param tokenizer2             the second tokenizer (OpenCLIP's: pads with {@code "!"})
 * @param textEncoder2           {@code text_encoder_2}, with projection
 * @param forceZerosForEmptyPrompt {@code model_index.json}'s flag: an empty negative prompt gives zero embeddings
 */
record SdxlConditioning(CLIPTokenizer tokenizer2, CLIPTextModel textEncoder2, boolean forceZerosForEmptyPrompt) {
    private static final System.Logger LOG = System.getLogger(SdxlConditioning.class.getName());

    SdxlConditioning {
        Objects.requireNonNull(tokenizer2, "tokenizer2");
        Objects.requireNonNull(textEncoder2, "textEncoder2");
        if (!textEncoder2.hasProjection()) {
            throw new IllegalArgumentException("SDXL text_encoder_2 needs a text_projection");
        }
    }

    /** The U-Net's inputs for a whole (CFG) batch: {@code context [N, 77, D]} and the added conditioning. */
    record Conditioning(Tensor context, UNet2DConditionModel.AddedCond added) {
    }

    /**
     * The conditioning of a request: rows {@code [negative × batch, prompt × batch]} with CFG, else
     * {@code [prompt × batch]}. An empty negative prompt stands for diffusers' {@code negative_prompt=None}: with
     * {@code force_zeros_for_empty_prompt} its embeddings and pooled embeddings are zeros.
     *
     * @param width  output width in pixels (the default target and original width)
     * @param height output height in pixels
     */
    Conditioning encode(CLIPTokenizer tokenizer1, CLIPTextModel textEncoder1, GenerationRequest req, boolean cfg,
                        int width, int height, Pipeline.Debug debug) {
        SdxlTextEncoders encoders = new SdxlTextEncoders(textEncoder1, textEncoder2);
        int batch = req.batchSize();
        SdxlTextEncoders.Encoded pos = encodeOne(encoders, tokenizer1, req.prompt(), req.clipSkip());
        debug.record("prompt_embeds", pos.promptEmbeds());
        debug.record("pooled_prompt_embeds", pos.pooled());
        Tensor ids = timeIds(req, width, height);
        Tensor context = Pipeline.repeat(pos.promptEmbeds(), batch);
        Tensor pooled = Pipeline.repeat(pos.pooled(), batch);
        Tensor timeIds = Pipeline.repeat(ids, batch);
        if (cfg) {
            SdxlTextEncoders.Encoded neg;
            if (forceZerosForEmptyPrompt && req.negativePrompt().isEmpty()) {
                neg = new SdxlTextEncoders.Encoded(Tensor.zeros(pos.promptEmbeds().shape()),
                        Tensor.zeros(pos.pooled().shape()));
            } else {
                // diffusers 0.27.2 encodes the negative prompt without clip skip; kept for parity.
                neg = encodeOne(encoders, tokenizer1, req.negativePrompt(), 1);
            }
            debug.record("negative_prompt_embeds", neg.promptEmbeds());
            debug.record("negative_pooled_prompt_embeds", neg.pooled());
            context = Pipeline.concatBatch(Pipeline.repeat(neg.promptEmbeds(), batch), context);
            pooled = Pipeline.concatBatch(Pipeline.repeat(neg.pooled(), batch), pooled);
            // The negative rows use the same ids (diffusers' negative_original_size etc. default to them).
            timeIds = Pipeline.concatBatch(timeIds, timeIds);
        }
        debug.record("add_time_ids", timeIds);
        return new Conditioning(context, new UNet2DConditionModel.AddedCond(pooled, timeIds));
    }

    private SdxlTextEncoders.Encoded encodeOne(SdxlTextEncoders encoders, CLIPTokenizer tokenizer1, String prompt,
                                               int clipSkip) {
        CLIPTokenizer.Encoded a = tokenizer1.inputIds(prompt);
        CLIPTokenizer.Encoded b = tokenizer2.inputIds(prompt);
        if (a.truncated() || b.truncated()) {
            LOG.log(System.Logger.Level.WARNING, "the prompt is longer than " + (tokenizer1.maxLength() - 2)
                    + " tokens and was cut: " + a.tokenCount() + " tokens");
        }
        return encoders.encode(new int[][] {a.inputIds()}, new int[][] {b.inputIds()}, clipSkip);
    }

    /** {@link #timeIds} repeated to {@code rows} rows (the whole CFG batch), for another output size (hires pass). */
    static Tensor timeIdsRows(GenerationRequest req, int width, int height, int rows) {
        return Pipeline.repeat(timeIds(req, width, height), rows);
    }

    /**
     * {@code [1, 6]}: original (h, w), crop (top, left), target (h, w); original and target default to the output
     * size, the crop to (0, 0).
     */
    static Tensor timeIds(GenerationRequest req, int width, int height) {
        int[] orig = req.originalSize();
        int[] crop = req.cropTopLeft();
        int[] target = req.targetSize();
        float[] v = {
            orig == null ? height : orig[1], orig == null ? width : orig[0],
            crop == null ? 0 : crop[0], crop == null ? 0 : crop[1],
            target == null ? height : target[1], target == null ? width : target[0]};
        return Tensor.of(v, 1, 6);
    }
}
