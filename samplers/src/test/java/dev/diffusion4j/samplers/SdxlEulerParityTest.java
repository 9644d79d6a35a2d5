package dev.diffusion4j.samplers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.SafeTensors;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * SDXL's default EulerDiscreteScheduler ({@code timestep_spacing: leading}, {@code steps_offset: 1}) against
 * diffusers 0.27.2 ({@code variants/sdxl/scheduler_steps}): timesteps and sigmas, {@code init_noise_sigma =
 * sqrt(sigma_max^2 + 1)} for leading, and the step trace to atol 1e-5 + rtol 1e-5 per element.
 */
class SdxlEulerParityTest {

    @Test
    @SuppressWarnings("unchecked")
    void leadingEulerTraceMatchesDiffusers() throws Exception {
        Path dir = Fixtures.dir().resolve("variants/sdxl/scheduler_steps");
        Map<String, Object> cas = Fixtures.json(dir.resolve("case.json"));
        int n = ((Number) cas.get("num_inference_steps")).intValue();
        Scheduler s = Schedulers.create("EulerDiscreteScheduler",
                SchedulerConfig.fromMap((Map<String, Object>) cas.get("scheduler_config")));
        s.setTimesteps(n);
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            double[] t = s.timesteps();
            float[] refT = out.tensor("euler.timesteps").toFloatArray();
            assertEquals(refT.length, t.length, "number of timesteps");
            for (int i = 0; i < refT.length; i++) {
                assertEquals(refT[i], (float) t[i], 0f, "timestep " + i);
            }
            check("sigmas", out.tensor("euler.sigmas").toFloatArray(), s.sigmas());
            float ins = out.tensor("euler.init_noise_sigma").getFlat(0);
            assertEquals(ins, s.initNoiseSigma(), 1e-5f + 1e-5f * ins, "init_noise_sigma (sqrt(sigma_max^2 + 1))");
            Tensor sample = in.tensor("euler.sample_in");
            float[] mo = in.tensor("euler.model_output_per_step").toFloatArray();
            float[] scaled = out.tensor("euler.scaled_model_input_per_step").toFloatArray();
            float[] prev = out.tensor("euler.prev_sample_per_step").toFloatArray();
            float[] x0 = out.tensor("euler.pred_original_sample_per_step").toFloatArray();
            int per = (int) sample.numel();
            int[] dims = sample.shape().dims();
            double worst = 0;
            for (int i = 0; i < n; i++) {
                Tensor eps = Tensor.of(Arrays.copyOfRange(mo, i * per, (i + 1) * per), dims);
                worst = Math.max(worst, check("scaled " + i, slice(scaled, i, per),
                        s.scaleModelInput(sample, t[i]).toFloatArray()));
                Scheduler.StepOutput so = s.step(eps, t[i], sample, new TorchGenerator(0));
                worst = Math.max(worst, check("x0 " + i, slice(x0, i, per), so.predOriginalSample().toFloatArray()));
                worst = Math.max(worst, check("prev " + i, slice(prev, i, per), so.prevSample().toFloatArray()));
                sample = so.prevSample();
            }
            System.out.printf("sdxl euler leading: worst |diff| %.3g%n", worst);
        }
    }

    private static float[] slice(float[] a, int i, int per) {
        return Arrays.copyOfRange(a, i * per, (i + 1) * per);
    }

    private static double check(String what, float[] ref, float[] got) {
        assertEquals(ref.length, got.length, what + ": length");
        double worst = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = Math.abs((double) ref[i] - got[i]);
            worst = Math.max(worst, d);
            final int k = i;
            assertTrue(d <= 1e-5 + 1e-5 * Math.abs(ref[i]), () -> what + "[" + k + "]: " + got[k] + " vs " + ref[k]);
        }
        return worst;
    }
}
