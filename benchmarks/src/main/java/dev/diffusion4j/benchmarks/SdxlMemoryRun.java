package dev.diffusion4j.benchmarks;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.clip.CLIPTextModel;
import dev.diffusion4j.nn.clip.CLIPTokenizer;
import dev.diffusion4j.nn.clip.SdxlTextEncoders;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
import dev.diffusion4j.nn.vae.AutoencoderKL;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.ResidentMemory;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * Peak resident memory and time per stage of one SDXL base 1.0 generation at 1024×1024 with the real-size
 * configurations ({@link FullSizeModels#sdxlUnetConfig()} etc.) and random F16 weights off the heap, as a memory-mapped
 * F16 checkpoint would hold them: both text encoders encode a prompt and a negative prompt (CFG rows
 * {@code [negative, prompt]}), {@code steps} U-Net evaluations at batch 2 on {@code 128×128} latents with the
 * {@code text_time} conditioning (pooled embedding and the six size/crop ids), the guidance combination, then the VAE
 * decode at 1024×1024. The VAE's tile is {@code sample_size / 8 = 128} latents, so at exactly 1024² the library
 * decodes whole, untiled (the pipeline tiles automatically only above 1024²): that is what runs here.
 *
 * <p>Run with the heap the job needs (weights are off the heap), e.g.
 * {@code java --add-modules jdk.incubator.vector -Xmx6g -cp benchmarks/target/benchmarks.jar
 * dev.diffusion4j.benchmarks.SdxlMemoryRun [steps] [tokenizers folder]}. The tokenizers folder (with
 * {@code tokenizer/} and {@code tokenizer_2/}, e.g. an SDXL diffusers folder) defaults to the fixtures' tiny SDXL
 * pipeline when it exists; without one, fixed token ids stand in for the prompt.
 */
public final class SdxlMemoryRun {
    private static final String PROMPT = "a photograph of an astronaut riding a horse on mars, highly detailed";
    private static final String NEGATIVE = "blurry, low quality";

    private SdxlMemoryRun() {
    }

    /** {@code [steps (default 1)] [tokenizers folder]}. */
    public static void main(String[] args) throws IOException {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 1;
        if (steps < 1) {
            throw new IllegalArgumentException("SdxlMemoryRun: steps must be >= 1, got " + steps);
        }
        Path tokenizers = args.length > 1 ? Path.of(args[1])
                : Path.of(System.getProperty("d4j.fixtures", "../shared/fixtures"), "variants", "sdxl", "pipeline");
        CpuBackend be = CpuBackend.create();
        System.out.printf(Locale.ROOT, "SDXL 1024x1024, %d step(s) at batch 2, F16 weights; max heap %.2f GiB, %d threads%n",
                steps, Runtime.getRuntime().maxMemory() / GIB, Runtime.getRuntime().availableProcessors());
        long t0 = System.nanoTime();
        try (Arena arena = Arena.ofShared()) {
            StateDict w1 = FullSizeModels.randomWeights(DType.F16, arena, 11);
            StateDict w2 = FullSizeModels.randomWeights(DType.F16, arena, 12);
            StateDict wu = FullSizeModels.randomWeights(DType.F16, arena, 13);
            StateDict wv = FullSizeModels.randomWeights(DType.F16, arena, 14);
            var c1 = FullSizeModels.sdxlTextEncoderConfig();
            var c2 = FullSizeModels.sdxlTextEncoder2Config();
            int proj = FullSizeModels.SDXL_PROJECTION_DIM;
            CLIPTextModel te1 = CLIPTextModel.of(c1, k -> w1.get(k, FullSizeModels.clipShape(c1, proj, k)),
                    CLIPTextModel.DIFFUSERS_PREFIX, be);
            CLIPTextModel te2 = CLIPTextModel.withProjection(c2, k -> w2.get(k, FullSizeModels.clipShape(c2, proj, k)),
                    CLIPTextModel.DIFFUSERS_PREFIX, CLIPTextModel.PROJECTION_KEY, be);
            UNet2DConditionModel unet = new UNet2DConditionModel(FullSizeModels.sdxlUnetConfig(), wu, be);
            AutoencoderKL vae = new AutoencoderKL(FullSizeModels.sdxlVaeConfig(), wv, be);
            System.out.printf(Locale.ROOT, "parameters: text_encoder %,d, text_encoder_2 %,d, unet %,d, vae %,d%n",
                    FullSizeModels.parameterCount(w1), FullSizeModels.parameterCount(w2),
                    FullSizeModels.parameterCount(wu), FullSizeModels.parameterCount(wv));
            t0 = report("weights made", t0);

            // Text: rows [negative, prompt], as the pipeline's CFG batch.
            int[][] ids1 = new int[2][];
            int[][] ids2 = new int[2][];
            if (Files.isRegularFile(tokenizers.resolve("tokenizer_2/vocab.json"))) {
                CLIPTokenizer tok1 = CLIPTokenizer.load(tokenizers.resolve("tokenizer"));
                CLIPTokenizer tok2 = CLIPTokenizer.load(tokenizers.resolve("tokenizer_2"));
                ids1[0] = tok1.inputIds(NEGATIVE).inputIds();
                ids1[1] = tok1.inputIds(PROMPT).inputIds();
                ids2[0] = tok2.inputIds(NEGATIVE).inputIds();
                ids2[1] = tok2.inputIds(PROMPT).inputIds();
            } else {
                System.out.println("(no tokenizers at " + tokenizers + ": fixed token ids)");
                for (int r = 0; r < 2; r++) {
                    ids1[r] = fixedIds(49407, r);
                    ids2[r] = fixedIds(0, r);
                }
            }
            SdxlTextEncoders.Encoded enc = new SdxlTextEncoders(te1, te2).encode(ids1, ids2);
            System.out.printf(Locale.ROOT, "prompt_embeds %s, pooled %s%n", enc.promptEmbeds().shape(), enc.pooled().shape());
            t0 = report("text encoded", t0);

            // add_time_ids: original (h, w), crop (top, left), target (h, w), for both rows.
            float[] ids = {1024, 1024, 0, 0, 1024, 1024};
            Tensor timeIds = Tensor.of(concat(ids, ids), 2, 6);
            var added = new UNet2DConditionModel.AddedCond(enc.pooled(), timeIds);
            float guidance = 5f;
            int n = 4 * 128 * 128;
            float[] x = FullSizeModels.randn(15, 1, 4, 128, 128).toFloatArray();
            for (int i = 0; i < steps; i++) {
                float t = 999f - i * (1000f / steps);
                Tensor in = Tensor.of(concat(x, x), 2, 4, 128, 128);
                float[] eps = unet.forward(in, new float[] {t, t}, enc.promptEmbeds(), added).toFloatArray();
                // CFG: uncond + g · (cond − uncond); a small Euler-like move keeps the latents in range.
                for (int j = 0; j < n; j++) {
                    float e = eps[j] + guidance * (eps[n + j] - eps[j]);
                    x[j] -= 0.05f * e;
                }
                t0 = report("U-Net step " + i, t0);
            }

            // Decode as the pipeline does at 1024²: latents / scaling_factor, whole (untiled).
            float s = (float) vae.config().scalingFactor();
            Tensor latents = be.scale(Tensor.of(x, 1, 4, 128, 128), 1f / s);
            System.out.printf(Locale.ROOT, "VAE tile: %d latents (decodeTiled decodes 128x128 latents whole)%n",
                    vae.tileLatentSize());
            Tensor image = vae.decode(latents);
            System.out.printf(Locale.ROOT, "image %s%n", image.shape());
            report("decoded 1024x1024", t0);
        }
        // The committed heap is what the GC grew the heap to (at most -Xmx); the rest of the RSS is off the heap.
        System.out.printf(Locale.ROOT, "peak RSS %.2f GiB, committed heap %.2f GiB%n", ResidentMemory.peakBytes() / GIB,
                Runtime.getRuntime().totalMemory() / GIB);
    }

    private static final double GIB = 1024.0 * 1024 * 1024;

    private static int[] fixedIds(int pad, int row) {
        int[] r = new int[77];
        Arrays.fill(r, pad);
        r[0] = 49406;
        for (int i = 1; i <= 8; i++) {
            r[i] = 320 + 17 * i + row;
        }
        r[9] = 49407;
        return r;
    }

    private static float[] concat(float[] a, float[] b) {
        float[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    private static long report(String stage, long since) {
        long now = System.nanoTime();
        System.out.printf(Locale.ROOT, "%-18s %7.1f s   peak RSS %.2f GiB%n", stage, (now - since) / 1e9,
                ResidentMemory.peakBytes() / GIB);
        return now;
    }
}
