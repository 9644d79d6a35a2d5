package dev.diffusion4j.samplers;

import static dev.diffusion4j.samplers.SchedulerParityTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.SafeTensors;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The scheduler side of the pipeline fixtures (txt2img, img2img, inpaint): the scheduler built from the
 * case's effective config, its timesteps (trimmed by strength with set_begin_index for img2img), every
 * generator draw before the loop bit-exact and in order, initial/noised latents, the first model input
 * and the first step (with the reference CFG-combined noise prediction), including the noise the step
 * draws and the legacy inpainting blend.
 */
class PipelineSchedulingFixtureTest {

    @ParameterizedTest
    @ValueSource(strings = {"txt2img/ddim_72x56_oddlatent", "txt2img/dpmpp_2m_karras_nocfg", "txt2img/euler_a_64x96",
        "txt2img/pndm_64x64", "img2img/ddim_s05_mode", "img2img/euler_a_s075_sample", "inpaint/legacy_4ch_euler",
        "inpaint/unet9ch_euler_a"})
    @SuppressWarnings("unchecked")
    void firstStepMatchesThePipeline(String name) throws Exception {
        Path dir = Fixtures.dir().resolve(name);
        Map<String, Object> cas = Fixtures.json(dir.resolve("case.json"));
        Map<String, Object> params = (Map<String, Object>) cas.get("params");
        Map<String, Object> cfg = (Map<String, Object>) ((Map<String, Object>) cas.get("scheduler_config")).get("effective_config");
        Scheduler s = Schedulers.fromConfig(cfg);
        int steps = ((Number) params.get("steps")).intValue();
        long seed = ((Number) params.get("seed")).longValue();
        boolean img2img = name.startsWith("img2img/");
        boolean inpaint = name.startsWith("inpaint/");
        try (SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            s.setTimesteps(steps);
            double[] ts = s.timesteps();
            assertTimesteps(out, img2img ? "full_timesteps" : "timesteps", ts, name);
            int begin = 0;
            if (img2img || inpaint) {
                double strength = ((Number) params.get("strength")).doubleValue();
                int init = Math.min((int) (steps * strength), steps);
                int tStart = Math.max(steps - init, 0);
                assertEquals(((Number) cas.get("t_start")).intValue(), tStart, name + " t_start");
                begin = tStart * s.order();
                ts = Arrays.copyOfRange(ts, begin, ts.length);
                s.setBeginIndex(begin);
                if (img2img) {
                    assertTimesteps(out, "timesteps", ts, name);
                    assertTimesteps(out, "latent_timestep", new double[] {ts[0]}, name);
                }
            }
            // every draw before the loop, in order, bit-exact
            TorchGenerator g = new TorchGenerator(seed);
            List<Map<String, Object>> draws = (List<Map<String, Object>>) cas.get("rng_draws_in_order");
            int k = 0;
            for (; k < draws.size() && !((String) draws.get(k).get("drawn_by")).startsWith("scheduler.step"); k++) {
                float[] got = g.randn(shape(draws.get(k).get("shape")));
                assertBitExact(out.tensor((String) draws.get(k).get("name")).toFloatArray(), got, name + " " + draws.get(k).get("name"));
            }
            Tensor latents;
            if (img2img) {
                Tensor noisy = s.addNoise(out.tensor("init_latents").toHeapF32(), out.tensor("noise").toHeapF32(), ts[0]);
                float[] ref = out.tensor("noisy_init_latents").toFloatArray();
                assertClose(ref, noisy.toFloatArray(), 1e-4, name + " noisy_init_latents");
                latents = out.tensor("noisy_init_latents").toHeapF32();
            } else {
                float[] noise = out.tensor(inpaint ? "noise" : "initial_noise").toFloatArray();
                float sigma = s.initNoiseSigma();
                if (cas.containsKey("init_noise_sigma")) {
                    assertEquals(((Number) cas.get("init_noise_sigma")).floatValue(), sigma, name + " init_noise_sigma");
                }
                for (int i = 0; i < noise.length; i++) {
                    noise[i] *= sigma;
                }
                assertClose(out.tensor("initial_latents").toFloatArray(), noise, 1e-6, name + " initial_latents");
                latents = out.tensor("initial_latents").toHeapF32();
            }
            // first model input: the latent channels of batch element 0
            Tensor mi = s.scaleModelInput(latents, ts[0]);
            Tensor refIn = out.tensor("step0_model_input").toHeapF32().slice(0);
            float[] refLatentIn = Arrays.copyOf(refIn.toFloatArray(), (int) mi.numel());
            assertClose(refLatentIn, mi.toFloatArray(), 1e-4, name + " step0_model_input");
            // first step with the reference noise prediction (CFG combined in float32 like torch)
            float[] eps;
            if (out.contains("step0_noise_pred")) {
                eps = out.tensor("step0_noise_pred").toFloatArray();
            } else {
                float gs = ((Number) params.get("guidance_scale")).floatValue();
                float[] u = out.tensor("step0_noise_pred_uncond").toFloatArray();
                float[] c = out.tensor("step0_noise_pred_text").toFloatArray();
                eps = new float[u.length];
                for (int i = 0; i < u.length; i++) {
                    eps[i] = u[i] + gs * (c[i] - u[i]);
                }
            }
            SchedulerParityTest.RecordingGenerator rec = new SchedulerParityTest.RecordingGenerator(seed);
            for (int j = 0; j < k; j++) {
                rec.inner.randn(shape(draws.get(j).get("shape")));
            }
            float[] next = s.step(Tensor.of(eps, latents.shape().dims()), ts[0], latents, rec).prevSample().toFloatArray();
            int stepDraws = 0;
            for (int j = k; j < draws.size() && draws.get(j).get("drawn_by").equals("scheduler.step 0"); j++) {
                assertBitExact(out.tensor((String) draws.get(j).get("name")).toFloatArray(), rec.draws.get(stepDraws),
                        name + " " + draws.get(j).get("name"));
                stepDraws++;
            }
            assertEquals(stepDraws, rec.draws.size(), name + ": draws in step 0");
            if (inpaint && "main".equals(params.get("unet"))) {
                // legacy 4-channel inpainting: keep the known region at the next noise level
                Tensor proper = s.addNoise(out.tensor("image_latents").toHeapF32(), out.tensor("noise").toHeapF32(), ts[1]);
                float[] p = proper.toFloatArray();
                float[] mask = out.tensor("mask_latent").toFloatArray();
                int plane = mask.length;
                for (int i = 0; i < next.length; i++) {
                    float m = mask[i % plane];
                    next[i] = (1f - m) * p[i] + m * next[i];
                }
            }
            assertClose(out.tensor("latents_after_step0").toFloatArray(), next, 1e-4, name + " latents_after_step0");
        }
    }

    private static void assertTimesteps(SafeTensors out, String key, double[] got, String name) {
        double[] ref;
        if (out.entries().get(key).dtype().equals("I64")) {
            ref = Arrays.stream(out.longs(key)).asDoubleStream().toArray();
        } else {
            float[] f = out.tensor(key).toFloatArray();
            ref = new double[f.length];
            for (int i = 0; i < f.length; i++) {
                ref[i] = f[i];
            }
        }
        assertEquals(Arrays.toString(ref), Arrays.toString(got), name + " " + key);
    }

    private static void assertBitExact(float[] ref, float[] got, String what) {
        assertEquals(ref.length, got.length, what + " length");
        for (int i = 0; i < ref.length; i++) {
            assertEquals(Float.floatToIntBits(ref[i]), Float.floatToIntBits(got[i]), what + "[" + i + "]");
        }
    }

    private static int[] shape(Object o) {
        List<?> l = (List<?>) o;
        int[] s = new int[l.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = ((Number) l.get(i)).intValue();
        }
        return s;
    }
}
