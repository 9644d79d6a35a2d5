package dev.diffusion4j.core;

import static dev.diffusion4j.core.ParityCases.check;
import static dev.diffusion4j.core.ParityCases.imageDiff;
import static dev.diffusion4j.core.ParityCases.maxDiff;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.jr.ob.JSON;
import dev.diffusion4j.nn.clip.SdxlTextEncoders;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
import dev.diffusion4j.samplers.SchedulerConfig;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.SafeTensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * SDXL through the library ({@code variants/sdxl}): both text encoders (atol 1e-4), the U-Net with text_time
 * conditioning (atol 2e-4, rtol 1e-3), and the two txt2img runs (latents atol 2e-3, decoded 5e-3, image max |diff| 2),
 * from the diffusers folder.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SdxlParityTest {
    private final ParityCases.Models models =
            new ParityCases.Models(SdxlParityTest::sdxl, "sdxl_tiny_single_file_f16.safetensors");

    static Path sdxl() {
        return ParityCases.fixtureDir("variants", "sdxl");
    }

    @AfterAll
    void close() {
        models.close();
    }

    private StableDiffusion model(String layout) throws IOException {
        return models.get(layout);
    }

    @ParameterizedTest
    @ValueSource(strings = {"folder", "single_file"})
    void textEncoders(String layout) throws Exception {
        Path dir = sdxl().resolve("text_encoders");
        StableDiffusion m = model(layout);
        assertTrue(m.isSdxl());
        Map<String, Object> c = JSON.std.mapFrom(Files.readString(dir.resolve("case.json")));
        @SuppressWarnings("unchecked")
        List<String> prompts = (List<String>) ((Map<String, Object>) c.get("prompts_row0_row1")).get("tokenizer");
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            int[][] ids1 = ParityCases.ids(in, "input_ids");
            int[][] ids2 = ParityCases.ids(in, "input_ids_2");
            for (int i = 0; i < prompts.size(); i++) {
                assertArrayEquals(ids1[i], m.tokenizer().inputIds(prompts.get(i)).inputIds(), "tokenizer ids " + i);
                assertArrayEquals(ids2[i], m.tokenizer2().inputIds(prompts.get(i)).inputIds(),
                        "tokenizer_2 ids " + i + " (pads with '!' = 0)");
            }
            SdxlTextEncoders.Encoded e = new SdxlTextEncoders(m.textEncoder(), m.textEncoder2()).encode(ids1, ids2);
            double d1 = check(layout + " prompt_embeds", out.tensor("prompt_embeds"), e.promptEmbeds(), 1e-4, 1e-4);
            double d2 = check(layout + " pooled", out.tensor("pooled_prompt_embeds"), e.pooled(), 1e-4, 1e-4);
            System.out.printf("sdxl %-12s prompt_embeds %.3g pooled %.3g%n", layout, d1, d2);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"folder", "single_file"})
    void unet(String layout) throws Exception {
        Path dir = sdxl().resolve("unet_forward");
        StableDiffusion m = model(layout);
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            Tensor got = m.unet().forward(in.tensor("sample"), new float[] {in.longs("timestep")[0]},
                    in.tensor("encoder_hidden_states"),
                    new UNet2DConditionModel.AddedCond(in.tensor("text_embeds"), in.tensor("time_ids")));
            double d = check(layout + " unet sample_out", out.tensor("sample_out"), got, 2e-4, 1e-3);
            System.out.printf("sdxl %-12s unet sample_out %.3g%n", layout, d);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"txt2img_euler_negative_prompt", "txt2img_euler_zero_negative",
        "txt2img_euler_negative_prompt@single_file", "txt2img_euler_zero_negative@single_file"})
    void txt2img(String caseId) throws Exception {
        String id = caseId.replace("@single_file", "");
        String layout = caseId.endsWith("@single_file") ? "single_file" : "folder";
        Path dir = sdxl().resolve(id);
        Map<String, Object> c = JSON.std.mapFrom(Files.readString(dir.resolve("case.json")));
        SchedulerConfig sc = SchedulerConfig.fromMap(JSON.std.mapFrom(Files.readString(dir.resolve("scheduler_config.json"))));
        StableDiffusion m = model(layout).withSchedulerConfig(sc);
        GenerationRequest.Builder b = GenerationRequest.builder()
                .prompt((String) c.get("prompt"))
                .negativePrompt((String) c.get("negative_prompt"))
                .sampler("euler")
                .seed(((Number) c.get("seed")).longValue())
                .steps(((Number) c.get("num_inference_steps")).intValue())
                .guidanceScale(((Number) c.get("guidance_scale")).doubleValue())
                .width(((Number) c.get("width")).intValue())
                .height(((Number) c.get("height")).intValue());
        if (c.get("original_size") instanceof List<?> o) {
            // diffusers' (height, width)
            b.originalSize(((Number) o.get(1)).intValue(), ((Number) o.get(0)).intValue());
        }
        if (c.get("crops_coords_top_left") instanceof List<?> o) {
            b.cropTopLeft(((Number) o.get(0)).intValue(), ((Number) o.get(1)).intValue());
        }
        GenerationRequest req = b.build();
        Map<String, Tensor> got = new HashMap<>();
        GenerationResult result = new Pipeline(m, req, ProgressListener.NONE, new Cancellation(), got::put).run();
        try (SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            float[] ts = got.get("timesteps").toFloatArray();
            assertArrayEquals(out.tensor("timesteps").toFloatArray(), ts, 0f, id + " timesteps");
            assertArrayEquals(out.tensor("init_noise").toFloatArray(), got.get("initial_noise").toFloatArray(), 0f,
                    id + " init noise");
            assertArrayEquals(out.tensor("add_time_ids").toFloatArray(), got.get("add_time_ids").toFloatArray(), 0f,
                    id + " add_time_ids");
            check(id + " initial_latents", out.tensor("initial_latents"), got.get("initial_latents"), 1e-5, 1e-5);
            for (String k : List.of("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
                    "negative_pooled_prompt_embeds")) {
                check(id + " " + k, out.tensor(k), got.get(k), 1e-4, 0);
            }
            if (id.contains("zero")) {
                for (float v : got.get("negative_pooled_prompt_embeds").toFloatArray()) {
                    assertEquals(0f, v, id + ": empty negative prompt must give zero pooled embeds");
                }
            }
            float[] perStep = out.tensor("latents_per_step").toFloatArray();
            float[] perNoise = out.tensor("noise_pred_per_step").toFloatArray();
            int n = ts.length;
            int per = perStep.length / n;
            for (int i = 0; i < n; i++) {
                int[] shape = got.get("latents_after_step" + i).shape().dims();
                check(id + " noise_pred step " + i, Tensor.of(java.util.Arrays.copyOfRange(perNoise, i * per, (i + 1) * per),
                        shape), got.get("noise_pred_step" + i), 2e-3, 0);
                check(id + " latents step " + i, Tensor.of(java.util.Arrays.copyOfRange(perStep, i * per, (i + 1) * per),
                        shape), got.get("latents_after_step" + i), 2e-3, 0);
            }
            double dl = check(id + " final_latents", out.tensor("final_latents"), got.get("final_latents"), 2e-3, 0);
            double dd = check(id + " decoded", out.tensor("decoded"), got.get("decoded"), 5e-3, 0);
            int maxPix = imageDiff(out, result);
            System.out.printf("sdxl %-40s final_latents %.3g decoded %.3g image max |diff| %d%n", id, dl, dd, maxPix);
            assertTrue(maxPix <= 2, id + ": image differs by " + maxPix);
            Map<String, String> fields = GenerationParameters.parse(result.parameters().get(0)).fields();
            if (c.get("original_size") != null) {
                assertEquals("192x256", fields.get("Original size"));
                assertEquals("16,8", fields.get("Crop top-left"), "X,Y as sd generate --crop-top-left takes it");
            } else {
                assertTrue(!fields.containsKey("Original size") && !fields.containsKey("Target size"), fields.toString());
            }
        }
    }

    /** The {@code single_file} case's own inputs and outputs, through the F16 single file with the folder's configs. */
    @Test
    void singleFileCase() throws Exception {
        Path dir = sdxl().resolve("single_file");
        StableDiffusion m = model("single_file");
        assertTrue(m.isSdxl());
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            SdxlTextEncoders.Encoded e = new SdxlTextEncoders(m.textEncoder(), m.textEncoder2())
                    .encode(ParityCases.ids(in, "input_ids"), ParityCases.ids(in, "input_ids_2"));
            double pe = check("single_file prompt_embeds", out.tensor("prompt_embeds"), e.promptEmbeds(), 1e-4, 0);
            double po = check("single_file pooled", out.tensor("pooled_prompt_embeds"), e.pooled(), 1e-4, 0);
            Tensor u = m.unet().forward(in.tensor("unet_sample"), new float[] {in.longs("unet_timestep")[0]},
                    in.tensor("unet_encoder_hidden_states"),
                    new UNet2DConditionModel.AddedCond(in.tensor("unet_text_embeds"), in.tensor("unet_time_ids")));
            double un = check("single_file unet", out.tensor("unet_sample_out"), u, 1e-4, 0);
            System.out.printf("sdxl single_file case: prompt_embeds %.3g pooled %.3g unet %.3g%n", pe, po, un);
        }
    }

    /** Paths without a diffusers reference: batch of 2, img2img, a custom sampler; the size conditioning matters. */
    @Test
    void batchImg2imgAndCustomSamplerRun() throws Exception {
        StableDiffusion m = model("folder");
        GenerationRequest base = GenerationRequest.builder().prompt("a red fox").seed(7).steps(3).guidanceScale(5)
                .sampler("euler").width(96).height(64).build();
        GenerationResult a = m.generate(base);
        GenerationResult cropped = m.generate(base.toBuilder().cropTopLeft(32, 0).build());
        assertTrue(maxDiff(a.latents(), cropped.latents()) > 1e-3,
                "the crop coordinates must change the result");
        GenerationResult batch = m.generate(base.toBuilder().batchSize(2).build());
        assertEquals(2, batch.images().size());
        assertEquals(List.of(2, 4, 8, 12), java.util.Arrays.stream(batch.latents().shape().dims()).boxed().toList());
        GenerationResult i2i = m.generate(GenerationRequest.builder().prompt("a red fox").seed(7).steps(3)
                .guidanceScale(5).sampler("euler").initImage(a.image()).strength(0.5).build());
        assertEquals(96, i2i.image().getWidth());
        assertEquals(64, i2i.image().getHeight());
        GenerationResult custom = m.generate(base.toBuilder()
                .customSampler(new dev.diffusion4j.samplers.kdiffusion.EulerSampler()).build());
        GenerationResult hires = m.generate(base.toBuilder().hiresScale(2).hiresSteps(2).build());
        assertEquals(192, hires.image().getWidth());
        assertEquals(128, hires.image().getHeight());
        GenerationResult skip2 = m.generate(base.toBuilder().clipSkip(2).build());
        assertTrue(maxDiff(a.latents(), skip2.latents()) > 1e-3, "clip skip 2 must change the result");
        for (GenerationResult r : List.of(batch, i2i, custom, hires, skip2)) {
            for (float v : r.latents().toFloatArray()) {
                assertTrue(Float.isFinite(v), "non-finite latent");
            }
        }
    }

    @Test
    void sdxlRejectsWhatItDoesNotSupportYet() throws Exception {
        StableDiffusion m = model("folder");
        if (StableDiffusion.sdxlConfigFolder(hubCache()).isEmpty()) {
            dev.diffusion4j.weights.CheckpointException noConfig = assertThrows(
                    dev.diffusion4j.weights.CheckpointException.class,
                    () -> StableDiffusion.load(sdxl().resolve("sdxl_tiny_single_file_f16.safetensors")));
            assertTrue(noConfig.getMessage().contains("config folder"), noConfig.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> GenerationRequest.builder().originalSize(0, 5));
        assertThrows(IllegalArgumentException.class, () -> GenerationRequest.builder().cropTopLeft(-1, 0));
        GenerationRequest r = GenerationRequest.builder().originalSize(30, 40).cropTopLeft(1, 2).targetSize(50, 60).build();
        assertArrayEquals(new float[] {40, 30, 1, 2, 60, 50}, SdxlConditioning.timeIds(r, 8, 16).toFloatArray(), 0f);
        assertArrayEquals(new float[] {16, 8, 0, 0, 16, 8},
                SdxlConditioning.timeIds(GenerationRequest.builder().build(), 8, 16).toFloatArray(), 0f);
    }

    private static Path hubCache() {
        String c = System.getenv("HF_HUB_CACHE");
        if (c != null && !c.isBlank()) {
            return Path.of(c);
        }
        String home = System.getenv("HF_HOME");
        return home != null && !home.isBlank() ? Path.of(home, "hub")
                : Path.of(System.getProperty("user.home"), ".cache", "huggingface", "hub");
    }

    /** The base model's configs are found in a hub cache layout (only configs and tokenizers needed). */
    @Test
    void sdxlConfigsFoundInHubCache(@org.junit.jupiter.api.io.TempDir Path hub) throws Exception {
        assertTrue(StableDiffusion.sdxlConfigFolder(hub).isEmpty());
        Path snap = hub.resolve("models--stabilityai--stable-diffusion-xl-base-1.0/snapshots/abc123");
        Path pipe = sdxl().resolve("pipeline");
        for (String f : List.of("model_index.json", "unet/config.json", "tokenizer_2/vocab.json")) {
            Files.createDirectories(snap.resolve(f).getParent());
            Files.copy(pipe.resolve(f), snap.resolve(f));
        }
        assertEquals(snap, StableDiffusion.sdxlConfigFolder(hub).orElseThrow());
    }

}
