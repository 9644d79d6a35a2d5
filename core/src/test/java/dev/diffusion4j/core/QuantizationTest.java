package dev.diffusion4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.SafeTensors;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link Quantization#Q8_0} on the tiny fixture model: which weights it takes, and the parity error of a whole
 * txt2img (U-Net output at step 0, final latents, decoded image) against the same pipeline with F32 weights and
 * against the diffusers reference.
 */
class QuantizationTest {
    @Test
    void parse() {
        assertEquals(Quantization.Q8_0, Quantization.parse("q8_0"));
        assertEquals(Quantization.Q8_0, Quantization.parse("Q8"));
        assertEquals(Quantization.NONE, Quantization.parse("none"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Quantization.parse("q4_0"));
        assertTrue(e.getMessage().contains("q4_0"), e.getMessage());
        assertEquals(Quantization.NONE, StableDiffusion.LoadOptions.defaults().quantization());
        assertEquals(Quantization.Q8_0,
                StableDiffusion.LoadOptions.defaults().withQuantization(Quantization.Q8_0).withVariant("x").quantization());
    }

    @Test
    void quantisesLinearAndConvWeightsOfWholeBlocksOnly() throws Exception {
        Path unet = ParityCases.fixtureDir("models", "tiny-sd").resolve("unet/diffusion_pytorch_model.safetensors");
        try (SafeTensors f = SafeTensors.open(unet); Arena arena = Arena.ofShared()) {
            StateDict base = StateDict.of(List.of(f));
            assertSame(base, Quantization.NONE.apply(base, arena).weights());
            Quantization.Result r = Quantization.Q8_0.apply(base, arena);
            StateDict q = r.weights();
            int count = 0;
            for (String k : base.keys()) {
                Tensor t = q.find(k);
                boolean quantised = t.dtype() == DType.Q8_0;
                count += quantised ? 1 : 0;
                assertEquals(base.find(k).shape(), t.shape(), k);
                if (k.startsWith("conv_in.") || k.startsWith("conv_out.") || k.endsWith(".bias") || k.contains("norm")) {
                    assertTrue(!quantised, k + " must stay as stored");
                }
            }
            for (String k : List.of("time_embedding.linear_1.weight", "down_blocks.0.resnets.0.conv1.weight",
                    "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight",
                    "down_blocks.0.attentions.0.proj_in.weight", "up_blocks.1.resnets.0.conv_shortcut.weight")) {
                assertEquals(DType.Q8_0, q.find(k).dtype(), k);
            }
            assertEquals(count, r.count());
            assertTrue(count > 50, "quantised " + count);
            // F32 weights: 4 bytes -> 34/32 bytes per element
            assertEquals(r.bytesBefore() / 4 * 34 / 32, r.bytesAfter());
            System.out.printf("tiny-sd U-Net Q8_0: %d of %d weights, %.0f KB -> %.0f KB%n", count, base.keys().size(),
                    r.bytesBefore() / 1e3, r.bytesAfter() / 1e3);
        }
    }

    /** A state dict over a map. */
    static StateDict of(Map<String, Tensor> m) {
        return new StateDict() {
            @Override
            public Tensor find(String key) {
                return m.get(key);
            }

            @Override
            public String source() {
                return "test weights";
            }

            @Override
            public java.util.Set<String> keys() {
                return new java.util.TreeSet<>(m.keySet());
            }
        };
    }

    @Test
    void confinedWeightsAreQuantisedOnTheCallingThread() {
        java.util.Random rnd = new java.util.Random(8);
        float[] v = new float[64 * 96];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        try (Arena confined = Arena.ofConfined(); Arena shared = Arena.ofShared()) {
            java.lang.foreign.MemorySegment seg = confined.allocate(4L * v.length);
            seg.copyFrom(java.lang.foreign.MemorySegment.ofArray(v)); // native order: little-endian here
            Tensor onSegment = Tensor.wrap(seg, DType.F32, dev.diffusion4j.tensor.Shape.of(64, 96));
            Tensor onHeap = Tensor.of(v.clone(), 64, 96);
            Quantization.Result a = Quantization.Q8_0.apply(of(Map.of("l.weight", onSegment, "l.bias",
                    Tensor.zeros(64))), confined);
            Quantization.Result b = Quantization.Q8_0.apply(of(Map.of("l.weight", onHeap, "l.bias",
                    Tensor.zeros(64), "emb.token_embedding.weight", Tensor.zeros(64, 32))), shared);
            assertEquals(1, a.count());
            assertEquals(1, b.count()); // embeddings stay as stored
            assertEquals(DType.F32, b.weights().find("emb.token_embedding.weight").dtype());
            assertEquals(DType.F32, b.weights().find("l.bias").dtype());
            org.junit.jupiter.api.Assertions.assertArrayEquals(b.weights().find("l.weight").toFloatArray(),
                    a.weights().find("l.weight").toFloatArray(), "same blocks from either storage and path");
        }
    }

    @Test
    void txt2imgParityAgainstF32() throws Exception {
        Path model = ParityCases.fixtureDir("models", "tiny-sd");
        Path dir = ParityCases.fixtureDir("txt2img", "pndm_64x64");
        GenerationRequest request = GenerationRequest.builder().prompt("a photograph of an astronaut riding a horse")
                .negativePrompt("").seed(42).steps(8).guidanceScale(7.5).width(64).height(64).sampler("pndm").build();
        Map<String, Tensor> f32 = new HashMap<>();
        Map<String, Tensor> q8 = new HashMap<>();
        GenerationResult imgF32;
        GenerationResult imgQ8;
        try (StableDiffusion a = StableDiffusion.load(model);
             StableDiffusion b = StableDiffusion.load(model,
                     StableDiffusion.LoadOptions.defaults().withQuantization(Quantization.Q8_0))) {
            imgF32 = new Pipeline(a, request, ProgressListener.NONE, new Cancellation(), f32::put).run();
            imgQ8 = new Pipeline(b, request, ProgressListener.NONE, new Cancellation(), q8::put).run();
        }
        // Same text embeddings (only the U-Net is quantised), different U-Net outputs.
        assertEquals(0.0, relMax(f32.get("prompt_embeds"), q8.get("prompt_embeds")));
        double unet = relMax(f32.get("step0_noise_pred_text"), q8.get("step0_noise_pred_text"));
        double latents = relMax(f32.get("final_latents"), q8.get("final_latents"));
        double decoded = relMax(f32.get("decoded"), q8.get("decoded"));
        java.awt.image.BufferedImage ref = javax.imageio.ImageIO.read(dir.resolve("image.png").toFile());
        int image = imageDiff(ref, imgQ8.image());
        int imageF32 = imageDiff(ref, imgF32.image());
        System.out.printf("tiny-sd Q8_0 vs F32 (max |diff| / max |F32|): U-Net output step 0 %.2e, final latents %.2e,"
                + " decoded %.2e; image max channel diff vs diffusers: Q8_0 %d, F32 %d%n",
                unet, latents, decoded, image, imageF32);
        assertTrue(unet > 0, "the U-Net ran on quantised weights");
        System.out.printf("tiny-sd Q8_0 vs F32 (RMS |diff| / RMS |F32|): U-Net output step 0 %.2e, final latents %.2e,"
                + " decoded %.2e%n", relRms(f32.get("step0_noise_pred_text"), q8.get("step0_noise_pred_text")),
                relRms(f32.get("final_latents"), q8.get("final_latents")), relRms(f32.get("decoded"), q8.get("decoded")));
        // Measured (max-relative): 1.2e-2, 3.4e-3, 3.0e-3 and an image within 1 of diffusers' (as F32 is allowed);
        // the bounds allow about 3x that.
        assertTrue(unet < 4e-2, "U-Net output error " + unet);
        assertTrue(latents < 1.5e-2, "final latents error " + latents);
        assertTrue(decoded < 1.5e-2, "decoded error " + decoded);
        assertTrue(image <= 3, "image differs from the reference by " + image);
    }

    @Test
    void loraIsMergedBeforeQuantisation() throws Exception {
        Path base = ParityCases.fixtureDir("variants", "sd1_base");
        Path lora = ParityCases.fixtureDir("variants", "lora").resolve("lora_kohya_f16.safetensors");
        StableDiffusion.LoraSpec spec = new StableDiffusion.LoraSpec(lora, 1.0);
        java.util.Random rnd = new java.util.Random(17);
        float[] xs = new float[4 * 8 * 8];
        float[] cs = new float[77 * 12];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = (float) rnd.nextGaussian();
        }
        for (int i = 0; i < cs.length; i++) {
            cs[i] = (float) rnd.nextGaussian();
        }
        Tensor x = Tensor.of(xs, 1, 4, 8, 8);
        Tensor ctx = Tensor.of(cs, 1, 77, 12);
        float[] t = {500f};
        StableDiffusion.LoadOptions opts = StableDiffusion.LoadOptions.defaults();
        try (StableDiffusion f32 = StableDiffusion.load(base, opts.withLora(lora, 1.0));
             StableDiffusion q8Merged = StableDiffusion.load(base, opts.withLora(lora, 1.0)
                     .withQuantization(Quantization.Q8_0));
             StableDiffusion q8Base = StableDiffusion.load(base, opts.withQuantization(Quantization.Q8_0))) {
            Tensor yF = f32.unet().forward(x, t, ctx);
            Tensor yQ = q8Merged.unet().forward(x, t, ctx);
            Tensor yB = q8Base.unet().forward(x, t, ctx);
            // Merging then quantising is deterministic: at load, or later on a quantised model, the same weights.
            org.junit.jupiter.api.Assertions.assertArrayEquals(yQ.toFloatArray(),
                    q8Base.withLoras(List.of(spec)).unet().forward(x, t, ctx).toFloatArray(), "merged later");
            org.junit.jupiter.api.Assertions.assertArrayEquals(yB.toFloatArray(),
                    q8Merged.withoutLoras().unet().forward(x, t, ctx).toFloatArray(), "base of a merged model");
            double quantError = relMax(yF, yQ);
            double loraEffect = relMax(yF, yB);
            System.out.printf("sd1_base + LoRA: Q8_0 vs F32 %.2e; without the LoRA %.2e%n", quantError, loraEffect);
            assertTrue(quantError > 0 && quantError < 3e-2, "quantisation error " + quantError);
            assertTrue(loraEffect > 3 * quantError, "the LoRA's effect survives quantisation");
        }
    }

    /** The largest difference of one channel of one pixel. */
    static int imageDiff(java.awt.image.BufferedImage a, java.awt.image.BufferedImage b) {
        assertEquals(a.getWidth(), b.getWidth());
        assertEquals(a.getHeight(), b.getHeight());
        int max = 0;
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                for (int s = 0; s <= 16; s += 8) {
                    max = Math.max(max, Math.abs(((a.getRGB(x, y) >> s) & 0xFF) - ((b.getRGB(x, y) >> s) & 0xFF)));
                }
            }
        }
        return max;
    }

    /** RMS(a - b) / RMS(a). */
    static double relRms(Tensor a, Tensor b) {
        float[] x = a.toFloatArray();
        float[] y = b.toFloatArray();
        double d = 0;
        double r = 0;
        for (int i = 0; i < x.length; i++) {
            d += ((double) x[i] - y[i]) * ((double) x[i] - y[i]);
            r += (double) x[i] * x[i];
        }
        return Math.sqrt(d / r);
    }

    /** max |a - b| / max |a|. */
    static double relMax(Tensor a, Tensor b) {
        float[] x = a.toFloatArray();
        float[] y = b.toFloatArray();
        assertEquals(x.length, y.length);
        double max = 0;
        double diff = 0;
        for (int i = 0; i < x.length; i++) {
            max = Math.max(max, Math.abs(x[i]));
            diff = Math.max(diff, Math.abs((double) x[i] - y[i]));
        }
        return diff / max;
    }
}
