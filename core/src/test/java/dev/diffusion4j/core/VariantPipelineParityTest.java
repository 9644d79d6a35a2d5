package dev.diffusion4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.jr.ob.JSON;
import dev.diffusion4j.nn.controlnet.ControlNetModel;
import dev.diffusion4j.nn.vae.AutoencoderTiny;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.SafeTensors;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The {@code variants/} pipeline fixtures on {@code sd1_base}: ControlNet txt2img (with and without a guidance
 * window), the latent hires fix, and the TAESD decoder / previews. Tolerances are the fixtures README's absolute ones:
 * latents 2e-3, decoded 5e-3, uint8 image ≤ 2, text embeddings 1e-4.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class VariantPipelineParityTest {
    private StableDiffusion model;

    private Path variants() {
        return PipelineParityTest.fixtures().resolve("variants");
    }

    private StableDiffusion model() throws Exception {
        if (model == null) {
            model = StableDiffusion.load(variants().resolve("sd1_base"));
        }
        return model;
    }

    @AfterAll
    void close() {
        if (model != null) {
            model.close();
        }
    }

    @Test
    void controlNetTxt2img() throws Exception {
        controlNetCase("txt2img");
    }

    @Test
    void controlNetGuidanceWindow() throws Exception {
        controlNetCase("txt2img_guidance_window");
    }

    private void controlNetCase(String name) throws Exception {
        Path dir = variants().resolve("controlnet/" + name);
        Map<String, Object> c = JSON.std.mapFrom(Files.readString(dir.resolve("case.json")));
        StableDiffusion sd = model();
        ControlNetModel cn = sd.loadControlNet(variants().resolve("controlnet/controlnet_model"));
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            BufferedImage control = hwcImage(in.tensorF32("control_image_uint8_hwc"));
            GenerationRequest request = base(c)
                    .sampler("ddim")
                    .controlNet(new GenerationRequest.ControlNet(cn, control, num(c, "controlnet_conditioning_scale"),
                            num(c, "control_guidance_start"), num(c, "control_guidance_end")))
                    .build();
            Map<String, Tensor> got = new HashMap<>();
            GenerationResult result = new Pipeline(sd, request, ProgressListener.NONE, new Cancellation(), got::put).run();
            String id = "controlnet/" + name;
            assertTrue(result.parameters().get(0).contains("ControlNet 0: \"Weight: 0.8, Guidance Start: "),
                    result.parameters().get(0));
            check(id, out, got, "control_image_preprocessed", "control_image_preprocessed", 0);
            check(id, out, got, "controlnet_scale_per_step", "controlnet_scale_per_step", 0);
            checkTxt2img(id, out, got, result, (int) num(c, "num_inference_steps"));
        }
    }

    @Test
    void multipleControlNetsAddTheirResiduals() throws Exception {
        // Residuals are linear in the scale: 0.5 + 0.3 of the same ControlNet must give the 0.8 reference.
        Path dir = variants().resolve("controlnet/txt2img");
        Map<String, Object> c = JSON.std.mapFrom(Files.readString(dir.resolve("case.json")));
        StableDiffusion sd = model();
        ControlNetModel cn = sd.loadControlNet(variants().resolve("controlnet/controlnet_model"));
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            BufferedImage control = hwcImage(in.tensorF32("control_image_uint8_hwc"));
            GenerationRequest request = base(c).sampler("ddim")
                    .controlNet(new GenerationRequest.ControlNet(cn, control, 0.5))
                    .controlNet(new GenerationRequest.ControlNet(cn, control, 0.3))
                    .build();
            GenerationResult result = model().generate(request);
            assertAbs("controlnet multi 0.5+0.3 final_latents", out.tensor("final_latents"), result.latents(), 2e-3);

            // Guess mode changes the result (no reference: diffusers' rule is checked in ControlNetModelParityTest).
            GenerationResult guess = model().generate(request.toBuilder().guessMode(true).build());
            assertTrue(maxAbsDiff(result.latents(), guess.latents()) > 1e-3, "guess mode had no effect");
        }
    }

    @Test
    void hiresFixWithControlNetAndImageUpscalerRuns() throws Exception {
        Path dir = variants().resolve("controlnet/txt2img");
        Map<String, Object> c = JSON.std.mapFrom(Files.readString(dir.resolve("case.json")));
        StableDiffusion sd = model();
        ControlNetModel cn = sd.loadControlNet(variants().resolve("controlnet/controlnet_model"));
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"))) {
            BufferedImage control = hwcImage(in.tensorF32("control_image_uint8_hwc"));
            GenerationRequest latent = base(c).sampler("euler").steps(3)
                    .controlNet(new GenerationRequest.ControlNet(cn, control, 0.8))
                    .hiresScale(1.5).hiresStrength(0.6).build();
            Map<String, Tensor> got = new HashMap<>();
            GenerationResult a = new Pipeline(sd, latent, ProgressListener.NONE, new Cancellation(), got::put).run();
            assertEquals(144, a.image().getWidth());
            assertEquals(96, a.image().getHeight());
            // The control image is resized to the hires size for the second pass.
            assertEquals(List.of(1, 3, 96, 144), java.util.Arrays.stream(got.get("control_image_preprocessed").shape().dims())
                    .boxed().toList());
            GenerationResult b = sd.generate(latent.toBuilder().hiresUpscaler(GenerationRequest.HiresUpscaler.IMAGE).build());
            assertEquals(144, b.image().getWidth());
            assertTrue(maxAbsDiff(a.latents(), b.latents()) > 1e-3, "the image upscaler gave the latent upscaler's result");
        }
    }

    @Test
    void hiresFixLatent() throws Exception {
        Path dir = variants().resolve("sd_upscale_or_hires/hires_fix_latent");
        Map<String, Object> c = JSON.std.mapFrom(Files.readString(dir.resolve("case.json")));
        @SuppressWarnings("unchecked")
        Map<String, Object> b = (Map<String, Object>) c.get("base");
        @SuppressWarnings("unchecked")
        Map<String, Object> h = (Map<String, Object>) c.get("hires");
        GenerationRequest request = GenerationRequest.builder()
                .prompt((String) c.get("prompt"))
                .negativePrompt((String) c.get("negative_prompt"))
                .guidanceScale(num(c, "guidance_scale"))
                .seed((long) num(b, "seed"))
                .steps((int) num(b, "num_inference_steps"))
                .width((int) num(b, "width"))
                .height((int) num(b, "height"))
                .sampler("euler")
                .hiresScale(num(h, "width") / num(b, "width"))
                .hiresStrength(num(h, "strength"))
                .hiresSteps((int) num(h, "num_inference_steps"))
                .hiresSeed((long) num(h, "seed"))
                .build();
        Map<String, Tensor> got = new HashMap<>();
        GenerationResult result = new Pipeline(model(), request, ProgressListener.NONE, new Cancellation(), got::put).run();
        String id = "hires_fix_latent";
        try (SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            check(id, out, got, "prompt_embeds", "prompt_embeds", 1e-4);
            check(id, out, got, "negative_prompt_embeds", "negative_prompt_embeds", 1e-4);
            check(id, out, got, "base_final_latents", "base_final_latents", 2e-3);
            check(id, out, got, "upscaled_latents", "upscaled_latents", 2e-3);
            check(id, out, got, "img2img_timesteps", "img2img_timesteps", 0);
            check(id, out, got, "img2img_noise", "img2img_noise", 0);
            check(id, out, got, "img2img_noised_init_latents", "img2img_noised_init_latents", 2e-3);
            Tensor perStep = out.tensor("img2img_latents_per_step");
            for (int i = 0; i < perStep.dim(0); i++) {
                assertAbs(id + " img2img_latents_per_step[" + i + "]", perStep.slice(i),
                        got.get("img2img_latents_after_step" + i), 2e-3);
            }
            check(id, out, got, "final_latents", "final_latents", 2e-3);
            check(id, out, got, "decoded", "decoded", 5e-3);
            checkImage(id, out.tensorF32("image_uint8"), result.image());
            String params = result.parameters().get(0);
            assertTrue(params.contains("Size: 96x64") && params.contains("Hires upscale: 2")
                    && params.contains("Denoising strength: 0.5") && params.contains("Hires upscaler: Latent"), params);
            assertEquals(192, result.image().getWidth());
            assertEquals(128, result.image().getHeight());
        }
        assertThrows(IllegalArgumentException.class, () -> request.toBuilder().hiresScale(1.0));
    }

    @Test
    void taesdDecoderAndPreviews() throws Exception {
        StableDiffusion sd = model();
        Path taesdDir = variants().resolve("taesd");
        AutoencoderTiny taesd = sd.loadTaesd(taesdDir.resolve("model"));
        Path dir = variants().resolve("controlnet/txt2img");
        Map<String, Object> c = JSON.std.mapFrom(Files.readString(dir.resolve("case.json")));
        GenerationRequest request = base(c).sampler("ddim").vaeDecoder(GenerationRequest.VaeDecoder.TAESD).build();
        List<Integer> previewSteps = new ArrayList<>();
        GenerationResult result = sd.generate(request, ProgressListener.previews(sd, 3, (e, img) -> {
            assertEquals(96, img.getWidth());
            assertEquals(64, img.getHeight());
            previewSteps.add(e.step());
        }), new Cancellation());
        assertEquals(List.of(2, 3), previewSteps, "previews every 3 steps and after the last");
        // TAESD decodes the latents as they are (scaling factor 1.0).
        assertAbs("taesd pipeline decode", taesd.decode(result.latents()), result.decoded(), 0);
        assertEquals(96, result.image().getWidth());

        // madebyollin's decoder file (encoder found next to it) gives the same decoder.
        AutoencoderTiny original = sd.loadTaesd(taesdDir.resolve("original_format_taesd_decoder.safetensors"));
        assertTrue(original.hasEncoder());
        assertAbs("taesd original-format decode", result.decoded(), original.decode(result.latents()), 1e-5);
        assertNotNull(sd.preview(result.latents()));
    }

    private static GenerationRequest.Builder base(Map<String, Object> c) {
        return GenerationRequest.builder()
                .prompt((String) c.get("prompt"))
                .negativePrompt((String) c.get("negative_prompt"))
                .seed((long) num(c, "seed"))
                .steps((int) num(c, "num_inference_steps"))
                .guidanceScale(num(c, "guidance_scale"))
                .width((int) num(c, "width"))
                .height((int) num(c, "height"));
    }

    private static void checkTxt2img(String id, SafeTensors out, Map<String, Tensor> got, GenerationResult result, int steps) {
        check(id, out, got, "prompt_embeds", "prompt_embeds", 1e-4);
        check(id, out, got, "negative_prompt_embeds", "negative_prompt_embeds", 1e-4);
        check(id, out, got, "init_noise", "initial_noise", 0);
        check(id, out, got, "initial_latents", "initial_latents", 1e-6);
        check(id, out, got, "timesteps", "timesteps", 0);
        Tensor noisePreds = out.tensor("noise_pred_per_step");
        Tensor latents = out.tensor("latents_per_step");
        assertEquals(steps, latents.dim(0));
        for (int i = 0; i < steps; i++) {
            assertAbs(id + " noise_pred_per_step[" + i + "]", noisePreds.slice(i), got.get("noise_pred_step" + i), 2e-3);
            assertAbs(id + " latents_per_step[" + i + "]", latents.slice(i), got.get("latents_after_step" + i), 2e-3);
        }
        check(id, out, got, "final_latents", "final_latents", 2e-3);
        check(id, out, got, "decoded", "decoded", 5e-3);
        checkImage(id, out.tensorF32("image_uint8"), result.image());
    }

    private static void check(String id, SafeTensors out, Map<String, Tensor> got, String refName, String gotName, double atol) {
        Tensor actual = got.get(gotName);
        assertNotNull(actual, id + ": the pipeline recorded no " + gotName);
        Tensor expected = out.entries().get(refName).dtype().equals("I64") || out.entries().get(refName).dtype().equals("U8")
                ? out.tensorF32(refName) : out.tensor(refName);
        assertAbs(id + " " + refName, expected, actual.reshape(expected.shape().dims()), atol);
    }

    static void assertAbs(String name, Tensor expected, Tensor actual, double atol) {
        assertEquals(expected.numel(), actual.numel(), name + ": size");
        double d = maxAbsDiff(expected, actual);
        System.out.printf("parity %-50s max|diff| %.3e (atol %.1e)%n", name, d, atol);
        assertTrue(d <= atol, name + ": max |diff| " + d + " > " + atol);
    }

    private static double maxAbsDiff(Tensor a, Tensor b) {
        float[] x = a.toFloatArray();
        float[] y = b.toFloatArray();
        double max = 0;
        for (int i = 0; i < x.length; i++) {
            double d = Math.abs((double) x[i] - y[i]);
            max = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(max, d);
        }
        return max;
    }

    /** The reference's uint8 NHWC image against ours: at most 2 per channel (README). */
    private static void checkImage(String id, Tensor refNhwc, BufferedImage img) {
        int h = refNhwc.dim(1);
        int w = refNhwc.dim(2);
        assertEquals(w, img.getWidth());
        assertEquals(h, img.getHeight());
        int max = 0;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = img.getRGB(x, y);
                for (int ch = 0; ch < 3; ch++) {
                    int mine = (rgb >> (16 - 8 * ch)) & 0xFF;
                    max = Math.max(max, Math.abs(mine - Math.round(refNhwc.get(0, y, x, ch))));
                }
            }
        }
        System.out.printf("parity %-50s image max channel diff %d%n", id, max);
        assertTrue(max <= 2, id + ": image differs by " + max);
    }

    private static BufferedImage hwcImage(Tensor hwc) {
        int h = hwc.dim(0);
        int w = hwc.dim(1);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int r = Math.round(hwc.get(y, x, 0));
                int g = Math.round(hwc.get(y, x, 1));
                int bl = Math.round(hwc.get(y, x, 2));
                img.setRGB(x, y, (r << 16) | (g << 8) | bl);
            }
        }
        return img;
    }

    private static double num(Map<String, Object> m, String key) {
        return ((Number) m.get(key)).doubleValue();
    }
}
