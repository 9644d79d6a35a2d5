package dev.diffusion4j.samplers;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * v-prediction in every sampler: with a perfect model that knows the clean sample {@code x0}, a run fed
 * {@code v = a·eps − s·x0} must follow the same trajectory as a run fed {@code eps} (both carry the same
 * information; only the scheduler's conversion differs). {@code a = sqrt(alphabar_t)}, {@code s = sqrt(1 − alphabar_t)};
 * for sigma schedulers {@code a} is read from {@code scaleModelInput} ({@code 1/sqrt(sigma²+1)}) at each evaluation,
 * for the others {@code alphabar} comes from SD's scaled-linear training schedule at the integer timestep.
 * (The DDIM and Euler conversions are also checked against diffusers in {@link VPredictionParityTest}.)
 *
 * <p>PNDM is the exception by design: diffusers' PLMS combines the raw model outputs of several steps linearly and
 * converts the combination from v to eps with the current step's alphabar and sample, so from its second step on a
 * v-model's trajectory is not the eps-model's. Only its first step (a single output) is compared.
 */
class VPredictionConsistencyTest {
    static java.util.List<String> samplers() {
        return SamplerCatalog.samplers();
    }

    private static final double[] ALPHABAR = new double[1000];

    static {
        double p = 1;
        double b0 = Math.sqrt(0.00085);
        double b1 = Math.sqrt(0.012);
        for (int i = 0; i < 1000; i++) {
            double b = b0 + (b1 - b0) * i / 999.0;
            p *= 1 - b * b;
            ALPHABAR[i] = p;
        }
    }

    @ParameterizedTest
    @MethodSource("samplers")
    void vRunFollowsTheEpsilonRun(String sampler) {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        int n = 64;
        float[] x0 = new float[n];
        float[] noise = new float[n];
        for (int i = 0; i < n; i++) {
            x0[i] = (float) rnd.nextGaussian();
            noise[i] = (float) rnd.nextGaussian();
        }
        int steps = sampler.equals("pndm") ? 1 : Integer.MAX_VALUE;
        float[] eps = run(sampler, "epsilon", x0, noise, seed, steps);
        float[] v = run(sampler, "v_prediction", x0, noise, seed, steps);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            worst = Math.max(worst, Math.abs(eps[i] - v[i]));
        }
        System.out.printf("v vs epsilon %-8s final sample max |diff| %.3g%n", sampler, worst);
        assertTrue(worst <= 2e-3, sampler + " (seed " + seed + "): v-prediction run ends " + worst
                + " away from the epsilon run");
    }

    private static float[] run(String sampler, String prediction, float[] x0, float[] noise, long seed, int maxSteps) {
        SchedulerConfig cfg = SchedulerConfig.sd15().toBuilder().set("prediction_type", prediction).build();
        Scheduler s = SamplerCatalog.create(sampler, null, null, cfg);
        s.setTimesteps(sampler.equals("lcm") ? 4 : 12);
        NoiseGenerator gen = new TorchGenerator(seed);
        int n = x0.length;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = noise[i] * s.initNoiseSigma();
        }
        Tensor sample = Tensor.of(x, 1, 1, 8, 8);
        boolean sigmaType = s.sigmas().length > 0 && s.initNoiseSigma() > 1.5f;
        double[] ts = s.timesteps();
        for (int k = 0; k < Math.min(maxSteps, ts.length); k++) {
            double t = ts[k];
            Tensor in = s.scaleModelInput(sample, t);
            float[] xs = sample.toFloatArray();
            double a;
            double sd;
            float[] e = new float[n];
            if (sigmaType) {
                a = in.getFlat(0) / xs[0];
                double sigma = Math.sqrt(1 / (a * a) - 1);
                sd = sigma * a;
                for (int i = 0; i < n; i++) {
                    e[i] = (float) ((xs[i] - x0[i]) / sigma);
                }
            } else {
                double ab = ALPHABAR[(int) Math.round(t)];
                a = Math.sqrt(ab);
                sd = Math.sqrt(1 - ab);
                for (int i = 0; i < n; i++) {
                    e[i] = (float) ((xs[i] - a * x0[i]) / sd);
                }
            }
            float[] out = new float[n];
            for (int i = 0; i < n; i++) {
                out[i] = prediction.equals("epsilon") ? e[i] : (float) (a * e[i] - sd * x0[i]);
            }
            sample = s.step(Tensor.of(out, 1, 1, 8, 8), t, sample, gen).prevSample();
        }
        return sample.toFloatArray();
    }
}
