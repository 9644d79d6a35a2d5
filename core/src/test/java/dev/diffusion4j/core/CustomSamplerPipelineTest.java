package dev.diffusion4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.samplers.kdiffusion.DpmPP2MSampler;
import dev.diffusion4j.samplers.kdiffusion.EulerSampler;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CancellationException;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** A k-diffusion-style {@code Sampler} in the pipeline (tiny-sd fixture model) in place of a diffusers scheduler. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CustomSamplerPipelineTest {
    private StableDiffusion model;

    private StableDiffusion model() throws Exception {
        if (model == null) {
            model = StableDiffusion.load(PipelineParityTest.fixtures().resolve("models/tiny-sd"),
                    StableDiffusion.LoadOptions.defaults());
        }
        return model;
    }

    @AfterAll
    void close() {
        if (model != null) {
            model.close();
        }
    }

    private static GenerationRequest.Builder txt2img() {
        return GenerationRequest.builder().prompt("a watercolor painting of a fox in a snowy forest")
                .negativePrompt("blurry").seed(1234).steps(10).guidanceScale(6).width(96).height(64);
    }

    static double relDiff(float[] ref, float[] got) {
        double maxRef = 1;
        double maxDiff = 0;
        for (int i = 0; i < ref.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
            maxDiff = Math.max(maxDiff, Math.abs(ref[i] - got[i]));
        }
        return maxDiff / maxRef;
    }

    @Test
    void eulerSamplerReproducesDiffusersEuler() throws Exception {
        // Same algorithm, same seed and draws; they differ only in how sigmas between training timesteps are
        // interpolated (diffusers: linear in sigma; k-diffusion: linear in log sigma). Measured: 9e-7.
        GenerationResult ref = model().generate(txt2img().sampler("euler").build());
        GenerationResult custom = model().generate(txt2img().customSampler(new EulerSampler()).build());
        double d = relDiff(ref.latents().toFloatArray(), custom.latents().toFloatArray());
        System.out.printf(Locale.ROOT, "custom euler vs diffusers euler: max rel latent diff %.2e%n", d);
        assertTrue(d < 1e-4, "custom Euler differs from diffusers' Euler by " + d);
        assertTrue(custom.parameters().get(0).contains("Sampler: custom euler"), custom.parameters().get(0));
        EulerSampler sampler = new EulerSampler();
        assertEquals(sampler, txt2img().customSampler(sampler).build().toBuilder().build().customSampler());
    }

    @Test
    void dpmPP2MKarrasIsCloseToDiffusersDpmPP2MKarras() throws Exception {
        // diffusers rounds the Karras timesteps to integers for the U-Net; k-diffusion evaluates at fractional t.
        // Measured: 2.1e-3.
        GenerationResult ref = model().generate(txt2img().sampler("dpm++2m").schedule("karras").build());
        GenerationResult custom = model().generate(txt2img().schedule("karras").customSampler(new DpmPP2MSampler()).build());
        double d = relDiff(ref.latents().toFloatArray(), custom.latents().toFloatArray());
        System.out.printf(Locale.ROOT, "custom dpm++2m vs diffusers dpm++2m karras: max rel latent diff %.2e%n", d);
        assertTrue(d < 1e-2, "custom DPM++ 2M differs from diffusers' by " + d);
    }

    @Test
    void listenerSeesEveryStepAndCanCancel() throws Exception {
        List<ProgressListener.StepEvent> events = new ArrayList<>();
        model().generate(txt2img().steps(6).customSampler(new EulerSampler()).build(), events::add, new Cancellation());
        assertEquals(6, events.size());
        assertEquals(999, events.get(0).timestep(), 1e-6);
        assertEquals(6, events.get(5).totalSteps());
        assertTrue(events.stream().allMatch(e -> e.predictedOriginal() != null));

        Cancellation cancel = new Cancellation();
        List<Integer> seen = new ArrayList<>();
        assertThrows(CancellationException.class, () -> model().generate(
                txt2img().steps(6).customSampler(new EulerSampler()).build(), e -> {
                    seen.add(e.step());
                    if (e.step() == 1) {
                        cancel.cancel();
                    }
                }, cancel));
        assertEquals(List.of(0, 1), seen);
    }

    @Test
    void img2imgRunsTheLastStrengthShareOfTheSigmas() throws Exception {
        Path dir = PipelineParityTest.fixtures().resolve("img2img/ddim_s05_mode");
        BufferedImage init = ImageIO.read(dir.resolve("init.png").toFile());
        List<ProgressListener.StepEvent> events = new ArrayList<>();
        GenerationResult r = model().generate(GenerationRequest.builder().prompt("a city skyline at night").seed(77)
                .steps(10).strength(0.5).initImage(init).schedule("exponential").customSampler(new EulerSampler()).build(),
                events::add, new Cancellation());
        assertEquals(5, events.size());
        assertEquals(96, r.image().getWidth());
        assertTrue(events.get(0).timestep() < 999, "starts below the top timestep: " + events.get(0).timestep());
        assertThrows(IllegalArgumentException.class, () -> GenerationRequest.builder().initImage(init).mask(init)
                .customSampler(new EulerSampler()).build());
    }
}
