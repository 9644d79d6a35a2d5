package dev.diffusion4j.samplers.kdiffusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.samplers.DenoisingLoop;
import dev.diffusion4j.samplers.FastNoiseGenerator;
import dev.diffusion4j.samplers.Scheduler;
import dev.diffusion4j.samplers.SchedulerConfig;
import dev.diffusion4j.samplers.Schedulers;
import dev.diffusion4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import org.junit.jupiter.api.Test;

/** Schedules, the U-Net adapter, callbacks, cancellation and argument checks of the research API. */
class KDiffusionApiTest {
    static final GaussianDenoiser GAUSS = new GaussianDenoiser(0.3, 0.6);
    static final DiscreteSchedule SD15 = DiscreteSchedule.of(SchedulerConfig.sd15());

    @Test
    void karrasAndExponentialFollowTheirFormulas() {
        double[] k = Sigmas.karras(6, 0.03, 14.6, 7);
        assertEquals(7, k.length);
        assertEquals(14.6, k[0], 1e-12);
        assertEquals(0.03, k[5], 1e-12);
        assertEquals(0, k[6]);
        for (int i = 0; i < 6; i++) {
            // sigma^(1/rho) is linear in i
            double expected = Math.pow(14.6, 1 / 7.0) + i / 5.0 * (Math.pow(0.03, 1 / 7.0) - Math.pow(14.6, 1 / 7.0));
            assertEquals(expected, Math.pow(k[i], 1 / 7.0), 1e-12, "karras " + i);
        }
        double[] e = Sigmas.exponential(6, 0.03, 14.6);
        assertEquals(14.6, e[0], 1e-12);
        assertEquals(0.03, e[5], 1e-12);
        assertEquals(0, e[6]);
        double ratio = e[1] / e[0];
        for (int i = 1; i < 6; i++) {
            assertEquals(ratio, e[i] / e[i - 1], 1e-12, "exponential: constant ratio at " + i);
        }
        assertArrayEquals(new double[] {14.6, 0}, Sigmas.exponential(1, 0.03, 14.6));
        assertThrows(IllegalArgumentException.class, () -> Sigmas.karras(0, 0.03, 14.6, 7));
        assertThrows(IllegalArgumentException.class, () -> Sigmas.exponential(4, 2, 1));
    }

    @Test
    void discreteScheduleConvertsBetweenSigmaAndTimestep() {
        // SD 1.5's training range, as k-diffusion reports it
        assertEquals(0.0292, SD15.sigmaMin(), 1e-4);
        assertEquals(14.6146, SD15.sigmaMax(), 1e-4);
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < 200; i++) {
            double t = r.nextDouble(0, 999);
            assertEquals(t, SD15.sigmaToT(SD15.tToSigma(t)), 1e-6, "round trip at t " + t + " (seed 3)");
        }
        assertEquals(0, SD15.sigmaToT(1e-4), 0);
        assertEquals(999, SD15.sigmaToT(100), 0);
        double[] s = SD15.sigmas(10);
        assertEquals(SD15.sigmaMax(), s[0], 1e-12);
        assertEquals(SD15.sigmaMin(), s[9], 1e-12);
        assertEquals(0, s[10]);
        assertArrayEquals(SD15.karras(10), SD15.schedule("karras", 10));
        assertArrayEquals(SD15.exponential(10), SD15.schedule("exponential", 10));
        assertArrayEquals(SD15.sigmas(10), SD15.schedule(null, 10));
        assertThrows(IllegalArgumentException.class, () -> SD15.schedule("beta", 10));
        assertThrows(IllegalArgumentException.class, () -> SD15.tToSigma(1000));
    }

    @Test
    void discreteDenoiserUndoesTheModelAdapterForEpsAndV() {
        Tensor x = GAUSS.initialLatents(3, new FastNoiseGenerator(5), 2, 3, 4);
        DenoisingLoop.Denoiser eps = DiscreteDenoiser.asModel(GAUSS, SD15);
        // v = alpha * eps - sigma_vp * x0 with alpha = 1/sqrt(1+sigma^2), sigma_vp = sigma * alpha
        DenoisingLoop.Denoiser v = (in, t) -> {
            double sigma = SD15.tToSigma(t);
            double a = 1 / Math.sqrt(1 + sigma * sigma);
            Tensor xs = Latents.scale(in, 1 / a);
            return Latents.combine(a, GAUSS.eps(xs, sigma), -sigma * a, GAUSS.denoise(xs, sigma));
        };
        for (double sigma : new double[] {0.05, 0.7, 3, 14}) {
            float[] want = GAUSS.denoise(x, sigma).toFloatArray();
            float[] gotEps = new DiscreteDenoiser(SD15, eps, "epsilon").denoise(x, sigma).toFloatArray();
            float[] gotV = new DiscreteDenoiser(SD15, v, "v_prediction").denoise(x, sigma).toFloatArray();
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], gotEps[i], 2e-4, "eps at sigma " + sigma + " index " + i);
                assertEquals(want[i], gotV[i], 2e-4, "v at sigma " + sigma + " index " + i);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new DiscreteDenoiser(SD15, eps, "sample"));
    }

    @Test
    void eulerSamplerMatchesDiffusersEulerOnTheSameSigmas() {
        // The same algorithm in both forms: k-diffusion's Euler through the U-Net adapter, diffusers' Euler loop.
        Scheduler s = Schedulers.byName("euler", SchedulerConfig.sd15());
        s.setTimesteps(12);
        Tensor x = GAUSS.initialLatents(s.sigmas()[0], new FastNoiseGenerator(11), 1, 64);
        DenoisingLoop.Denoiser model = DiscreteDenoiser.asModel(GAUSS, SD15);
        Tensor viaScheduler = DenoisingLoop.run(s, x, s.timesteps(), model, new FastNoiseGenerator(1), null);
        float[] f = s.sigmas();
        double[] sigmas = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            sigmas[i] = f[i];
        }
        Tensor viaSampler = new EulerSampler().sample(new DiscreteDenoiser(SD15, model, "epsilon"), sigmas, x, null, null);
        float[] a = viaScheduler.toFloatArray();
        float[] b = viaSampler.toFloatArray();
        for (int i = 0; i < a.length; i++) {
            assertEquals(a[i], b[i], 1e-4, "index " + i + " (seed 11)");
        }
    }

    @Test
    void callbacksReportEveryStepAndEvaluationsAreCounted() {
        double[] sigmas = Sigmas.karras(5, 0.03, 14.6, 7);
        Tensor x = GAUSS.initialLatents(sigmas[0], new FastNoiseGenerator(2), 1, 16);
        for (Sampler sampler : new Sampler[] {new EulerSampler(), new EulerAncestralSampler(), new HeunSampler(),
                new DpmPP2MSampler(), new DpmPP2SAncestralSampler()}) {
            List<SamplerCallback.Step> steps = new ArrayList<>();
            int[] calls = {0};
            Denoiser counting = (xi, sigma) -> {
                calls[0]++;
                return GAUSS.denoise(xi, sigma);
            };
            Tensor out = sampler.sample(counting, sigmas, x, new FastNoiseGenerator(4), steps::add);
            assertEquals(5, steps.size(), sampler.name());
            for (int i = 0; i < 5; i++) {
                SamplerCallback.Step st = steps.get(i);
                assertEquals(i, st.index());
                assertEquals(5, st.steps());
                assertEquals(sigmas[i], st.sigma());
                assertEquals(sigmas[i + 1], st.sigmaNext());
                assertEquals(x.shape(), st.denoised().shape());
            }
            assertArrayEquals(out.toFloatArray(), steps.get(4).latents().toFloatArray(), sampler.name());
            // Heun evaluates twice per step except the last step to 0
            // Heun and DPM++ 2S evaluate twice per step except the last step to 0
            boolean two = sampler instanceof HeunSampler || sampler instanceof DpmPP2SAncestralSampler;
            assertEquals(two ? 9 : 5, calls[0], sampler.name() + " evaluations");
        }
    }

    @Test
    void aCallbackCancelsBeforeTheNextEvaluation() {
        double[] sigmas = Sigmas.exponential(8, 0.03, 14.6);
        Tensor x = GAUSS.initialLatents(sigmas[0], new FastNoiseGenerator(2), 1, 16);
        int[] calls = {0};
        List<Integer> seen = new ArrayList<>();
        Denoiser counting = (xi, sigma) -> {
            calls[0]++;
            return GAUSS.denoise(xi, sigma);
        };
        SamplerCallback cb = SamplerCallback.cancellable(s -> seen.add(s.index()), () -> seen.size() >= 3);
        assertThrows(CancellationException.class, () -> new DpmPP2MSampler().sample(counting, sigmas, x, null, cb));
        assertEquals(List.of(0, 1, 2), seen);
        assertEquals(3, calls[0]);
    }

    @Test
    void ancestralWithEtaZeroIsEuler() {
        double[] sigmas = Sigmas.karras(7, 0.03, 14.6, 7);
        Tensor x = GAUSS.initialLatents(sigmas[0], new FastNoiseGenerator(8), 1, 32);
        assertArrayEquals(new EulerSampler().sample(GAUSS, sigmas, x, null, null).toFloatArray(),
                new EulerAncestralSampler(0, 1).sample(GAUSS, sigmas, x, null, null).toFloatArray());
    }

    @Test
    void badArgumentsAreRejectedWithTheSamplersName() {
        Tensor x = Tensor.zeros(1, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new HeunSampler().sample(GAUSS, new double[] {1, 2, 0}, x, null, null));
        assertTrue(e.getMessage().contains("HeunSampler") && e.getMessage().contains("non-increasing"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new EulerSampler().sample(GAUSS, new double[] {1}, x, null, null));
        e = assertThrows(IllegalArgumentException.class,
                () -> new EulerAncestralSampler().sample(GAUSS, new double[] {2, 1, 0}, x, null, null));
        assertTrue(e.getMessage().contains("generator"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new DpmPP2MSampler().sample((xi, s) -> Tensor.zeros(1, 5),
                new double[] {2, 1, 0}, x, null, null));
        assertTrue(e.getMessage().contains("[1, 5]") || e.getMessage().contains("1, 5"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new GaussianDenoiser(0, 0));
        assertThrows(IllegalArgumentException.class, () -> Latents.combine(1, x, 1, Tensor.zeros(4, 1)));
    }
}
