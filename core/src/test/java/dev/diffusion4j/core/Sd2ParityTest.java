package dev.diffusion4j.core;

import static dev.diffusion4j.core.ParityCases.check;
import static dev.diffusion4j.core.ParityCases.imageDiff;
import static dev.diffusion4j.core.ParityCases.maxDiff;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.jr.ob.JSON;
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
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * SD 2.x (v-prediction, OpenCLIP, linear projections, per-block heads) through the library, from the diffusers
 * folder and from the F16 single file loaded with the folder's configs: text encoder (atol 1e-4), U-Net (atol 2e-4,
 * rtol 1e-3) and the three txt2img runs (latents atol 2e-3, decoded 5e-3, image max |diff| 2) of
 * {@code variants/sd2_v}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Sd2ParityTest {
    private final ParityCases.Models models =
            new ParityCases.Models(Sd2ParityTest::sd2, "sd2_v_tiny_single_file_f16.safetensors");

    static Path sd2() {
        return ParityCases.fixtureDir("variants", "sd2_v");
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
    void textEncoder(String layout) throws Exception {
        Path dir = sd2().resolve("text_encoder");
        StableDiffusion m = model(layout);
        Map<String, Object> c = JSON.std.mapFrom(Files.readString(dir.resolve("case.json")));
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            int[][] ids = ParityCases.ids(in, "input_ids");
            @SuppressWarnings("unchecked")
            List<String> prompts = (List<String>) c.get("prompts");
            for (int i = 0; i < prompts.size(); i++) {
                assertArrayEquals(ids[i], m.tokenizer().inputIds(prompts.get(i)).inputIds(), "ids of prompt " + i
                        + " (SD2 pads with id 0)");
            }
            double d = maxDiff(out.tensor("last_hidden_state"), m.textEncoder().encode(ids, 1));
            System.out.printf("sd2 %-12s text encoder last_hidden_state max |diff| %.3g%n", layout, d);
            assertTrue(d <= 1e-4, layout + ": text encoder differs by " + d);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"folder", "single_file"})
    void unet(String layout) throws Exception {
        Path dir = sd2().resolve("unet_forward");
        StableDiffusion m = model(layout);
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            Tensor sample = in.tensor("sample");
            Tensor ehs = in.tensor("encoder_hidden_states");
            float t = in.longs("timestep")[0];
            long[] tb = in.longs("timesteps_per_batch");
            double d1 = check(layout + " unet sample_out", out.tensor("sample_out"),
                    m.unet().forward(sample, new float[] {t}, ehs), 2e-4, 1e-3);
            double d2 = check(layout + " unet sample_out_per_batch_t", out.tensor("sample_out_per_batch_t"),
                    m.unet().forward(sample, new float[] {tb[0], tb[1]}, ehs), 2e-4, 1e-3);
            System.out.printf("sd2 %-12s unet sample_out max |diff| %.3g, per-batch t %.3g%n", layout, d1, d2);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"txt2img_ddim", "txt2img_euler", "txt2img_ddim_trailing_zsnr_rescale",
        "txt2img_ddim@single_file", "txt2img_euler@single_file", "txt2img_ddim_trailing_zsnr_rescale@single_file"})
    void txt2img(String id) throws Exception {
        String name = id.replace("@single_file", "");
        String layout = id.endsWith("@single_file") ? "single_file" : "folder";
        Path dir = sd2().resolve(name);
        Map<String, Object> c = JSON.std.mapFrom(Files.readString(dir.resolve("case.json")));
        SchedulerConfig sc = SchedulerConfig.fromMap(JSON.std.mapFrom(Files.readString(dir.resolve("scheduler_config.json"))));
        StableDiffusion m = model(layout).withSchedulerConfig(sc);
        GenerationRequest req = GenerationRequest.builder()
                .prompt((String) c.get("prompt"))
                .negativePrompt((String) c.get("negative_prompt"))
                .seed(((Number) c.get("seed")).longValue())
                .steps(((Number) c.get("num_inference_steps")).intValue())
                .guidanceScale(((Number) c.get("guidance_scale")).doubleValue())
                .guidanceRescale(((Number) c.get("guidance_rescale")).doubleValue())
                .width(((Number) c.get("width")).intValue())
                .height(((Number) c.get("height")).intValue())
                .build();
        Map<String, Tensor> got = new HashMap<>();
        GenerationResult result = new Pipeline(m, req, ProgressListener.NONE, new Cancellation(), got::put).run();
        try (SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            float[] ts = got.get("timesteps").toFloatArray();
            float[] refTs = out.entries().get("timesteps").dtype().equals("I64")
                    ? toFloats(out.longs("timesteps")) : out.tensor("timesteps").toFloatArray();
            assertArrayEquals(refTs, ts, 0f, id + " timesteps");
            assertArrayEquals(out.tensor("init_noise").toFloatArray(), got.get("initial_noise").toFloatArray(), 0f,
                    id + " init noise");
            check(id + " initial_latents", out.tensor("initial_latents"), got.get("initial_latents"), 1e-5, 1e-5);
            check(id + " prompt_embeds", out.tensor("prompt_embeds"), got.get("prompt_embeds"), 1e-4, 0);
            check(id + " negative_prompt_embeds", out.tensor("negative_prompt_embeds"),
                    got.get("negative_prompt_embeds"), 1e-4, 0);
            float[] perStep = out.tensor("latents_per_step").toFloatArray();
            int n = ts.length;
            int per = perStep.length / n;
            for (int i = 0; i < n; i++) {
                Tensor ref = Tensor.of(java.util.Arrays.copyOfRange(perStep, i * per, (i + 1) * per),
                        got.get("latents_after_step" + i).shape().dims());
                check(id + " latents step " + i, ref, got.get("latents_after_step" + i), 2e-3, 0);
            }
            double dl = check(id + " final_latents", out.tensor("final_latents"), got.get("final_latents"), 2e-3, 0);
            double dd = check(id + " decoded", out.tensor("decoded"), got.get("decoded"), 5e-3, 0);
            int maxPix = imageDiff(out, result);
            System.out.printf("sd2 %-50s final_latents %.3g decoded %.3g image max |diff| %d%n", id, dl, dd, maxPix);
            assertTrue(maxPix <= 2, id + ": image differs by " + maxPix);
            if (req.guidanceRescale() > 0) {
                assertEquals("0.7", GenerationParameters.parse(result.parameters().get(0)).fields().get("CFG Rescale phi"));
            }
        }
    }

    private static float[] toFloats(long[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = v[i];
        }
        return f;
    }

    /** The {@code single_file} case's own inputs and outputs (copies of the other cases'). */
    @org.junit.jupiter.api.Test
    void singleFileCase() throws Exception {
        Path dir = sd2().resolve("single_file");
        StableDiffusion m = model("single_file");
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            double te = check("single_file text encoder", out.tensor("text_encoder_last_hidden_state"),
                    m.textEncoder().encode(ParityCases.ids(in, "input_ids"), 1), 1e-4, 1e-4);
            double un = check("single_file unet", out.tensor("unet_sample_out"), m.unet().forward(in.tensor("unet_sample"),
                    new float[] {in.longs("unet_timestep")[0]}, in.tensor("unet_encoder_hidden_states")), 2e-4, 1e-3);
            System.out.printf("sd2 single_file case: text encoder %.3g, unet %.3g%n", te, un);
        }
    }
}
