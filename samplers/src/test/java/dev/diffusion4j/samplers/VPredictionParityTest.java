package dev.diffusion4j.samplers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.SafeTensors;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * SD 2.x v-prediction: DDIM (leading), Euler (linspace, fractional timesteps) and DDIM with trailing spacing and
 * zero-terminal-SNR betas against diffusers 0.27.2 ({@code variants/sd2_v/scheduler_steps_v_prediction}), given the
 * reference's random {@code v} outputs: timesteps exact, traces to 1e-5 × max(1, max|ref|).
 */
class VPredictionParityTest {

    @ParameterizedTest
    @ValueSource(strings = {"ddim", "euler", "ddim_trailing_zsnr_rescale"})
    @SuppressWarnings("unchecked")
    void matchesDiffusers(String prefix) throws Exception {
        Path dir = Fixtures.dir().resolve("variants/sd2_v/scheduler_steps_v_prediction");
        Map<String, Object> cas = Fixtures.json(dir.resolve("case.json"));
        Map<String, Object> sch = (Map<String, Object>) ((Map<String, Object>) cas.get("schedulers")).get(prefix);
        int n = ((Number) cas.get("num_inference_steps")).intValue();
        Scheduler s = Schedulers.create((String) sch.get("class"),
                SchedulerConfig.fromMap((Map<String, Object>) sch.get("config")));
        s.setTimesteps(n);
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            String p = prefix + ".";
            double[] t = s.timesteps();
            if (out.entries().get(p + "timesteps").dtype().equals("I64")) {
                double[] ref = Arrays.stream(out.longs(p + "timesteps")).asDoubleStream().toArray();
                assertArrayEquals(ref, t, 0, prefix + " timesteps");
            } else {
                float[] ref = out.tensor(p + "timesteps").toFloatArray();
                for (int i = 0; i < ref.length; i++) {
                    assertEquals(ref[i], (float) t[i], 0f, prefix + " timestep " + i);
                }
                assertArrayEquals(out.tensor(p + "sigmas").toFloatArray(), s.sigmas(), 1e-6f, prefix + " sigmas");
            }
            assertEquals(out.tensor(p + "init_noise_sigma").getFlat(0), s.initNoiseSigma(), 1e-5f, prefix + " init_noise_sigma");
            Tensor sample = in.tensor(p + "sample_in");
            float[] mo = in.tensor(p + "model_output_per_step").toFloatArray();
            float[] scaled = out.tensor(p + "scaled_model_input_per_step").toFloatArray();
            float[] prev = out.tensor(p + "prev_sample_per_step").toFloatArray();
            float[] x0 = out.tensor(p + "pred_original_sample_per_step").toFloatArray();
            int per = (int) sample.numel();
            int[] dims = sample.shape().dims();
            double worst = 0;
            for (int i = 0; i < n; i++) {
                Tensor v = Tensor.of(Arrays.copyOfRange(mo, i * per, (i + 1) * per), dims);
                worst = Math.max(worst, check(prefix + " scaled " + i, slice(scaled, i, per),
                        s.scaleModelInput(sample, t[i]).toFloatArray()));
                Scheduler.StepOutput so = s.step(v, t[i], sample, new TorchGenerator(0));
                worst = Math.max(worst, check(prefix + " x0 " + i, slice(x0, i, per), so.predOriginalSample().toFloatArray()));
                worst = Math.max(worst, check(prefix + " prev " + i, slice(prev, i, per), so.prevSample().toFloatArray()));
                sample = so.prevSample();
            }
            System.out.printf("v-prediction %-28s worst |diff|/max(1,|ref|) %.3g%n", prefix, worst);
        }
    }

    private static float[] slice(float[] a, int i, int per) {
        return Arrays.copyOfRange(a, i * per, (i + 1) * per);
    }

    private static double check(String what, float[] ref, float[] got) {
        double max = 1;
        for (float v : ref) {
            max = Math.max(max, Math.abs(v));
        }
        double worst = 0;
        for (int i = 0; i < ref.length; i++) {
            worst = Math.max(worst, Math.abs((double) ref[i] - got[i]));
        }
        assertTrue(worst <= 1e-5 * max, what + ": max |diff| " + worst + " > " + 1e-5 * max);
        return worst / max;
    }
}
