package dev.diffusion4j.samplers.kdiffusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.samplers.FastNoiseGenerator;
import dev.diffusion4j.samplers.NoiseGenerator;
import dev.diffusion4j.tensor.Tensor;
import java.util.Locale;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every research sampler on data N(mu, s^2), whose exact denoiser is known: the sample moments converge to
 * mu and s^2 as the steps grow, at the sampler's order.
 */
class GaussianSamplerTest {
    static final double MU = 0.3;
    static final double STD = 0.6;
    static final GaussianDenoiser GAUSS = new GaussianDenoiser(MU, STD);
    /** EDM's range (Karras et al. 2022): the last step from 0.002 to 0 adds an error of ~1e-5, below what we test. */
    static final double SIGMA_MIN = 0.002;
    static final double SIGMA_MAX = 80;

    static Stream<Arguments> samplers() {
        return Stream.of(
                Arguments.of("euler", (Supplier<Sampler>) EulerSampler::new, 1.0),
                Arguments.of("heun", (Supplier<Sampler>) HeunSampler::new, 2.0),
                Arguments.of("dpm++2m", (Supplier<Sampler>) DpmPP2MSampler::new, 2.0),
                Arguments.of("dpm++2s", (Supplier<Sampler>) () -> new DpmPP2SAncestralSampler(0, 1), 2.0),
                Arguments.of("euler_a", (Supplier<Sampler>) EulerAncestralSampler::new, 1.0),
                Arguments.of("dpm++2s_a", (Supplier<Sampler>) DpmPP2SAncestralSampler::new, 1.0));
    }

    /** Standard-normal noise standardised to sample mean 0 and variance 1 exactly (removes Monte Carlo error of x_T). */
    static Tensor standardisedStart(double sigma, long seed, int n) {
        float[] z = new FastNoiseGenerator(seed).randn(n);
        double[] m = Latents.moments(Tensor.of(z, n));
        double sd = Math.sqrt(STD * STD + sigma * sigma);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (MU + sd * (z[i] - m[0]) / Math.sqrt(m[1]));
        }
        return Tensor.of(x, 1, n);
    }

    static double[] run(Sampler sampler, double[] sigmas, long seed, int n) {
        Tensor x = standardisedStart(sigmas[0], seed, n);
        return Latents.moments(sampler.sample(GAUSS, sigmas, x, new FastNoiseGenerator(seed + 1), null));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("samplers")
    void momentsOverManySamplesMatchTheData(String name, Supplier<Sampler> make, double order) {
        long seed = 20261126L;
        int n = 1 << 17;
        for (String schedule : new String[] {"karras", "exponential"}) {
            int steps = order == 1 ? 400 : 100;
            double[] sigmas = schedule.equals("karras") ? Sigmas.karras(steps, SIGMA_MIN, SIGMA_MAX, 7)
                    : Sigmas.exponential(steps, SIGMA_MIN, SIGMA_MAX);
            double[] m = run(make.get(), sigmas, seed, n);
            String msg = String.format(Locale.ROOT, "%s %s %d steps seed %d: mean %.5f var %.5f (want %.5f, %.5f)",
                    name, schedule, steps, seed, m[0], m[1], MU, STD * STD);
            // Monte Carlo: the stochastic sampler adds fresh noise (mean std ~ STD/sqrt(n) = 0.0017); 400 steps of a
            // first-order solver leave ~0.5-1 % of the variance, 100 of a second-order one ~0.3 %.
            assertEquals(MU, m[0], 0.01, msg);
            assertEquals(STD * STD, m[1], STD * STD * (order == 1 ? 0.03 : 0.01), msg);
        }
    }

    /**
     * Variance error at 25/50/100/200 Karras steps (25/50/100 for the ancestral ones): halving the step size divides it by
     * 2^order. Deterministic samplers are affine maps on this toy, so standardised starting noise leaves no Monte
     * Carlo error; the ancestral one uses 2^18 samples.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("samplers")
    void errorShrinksWithStepsAtTheSamplersOrder(String name, Supplier<Sampler> make, double order) {
        boolean stochastic = name.endsWith("_a");
        long seed = 7L;
        int n = stochastic ? 1 << 18 : 1 << 12;
        int[] steps = stochastic ? new int[] {25, 50, 100} : new int[] {25, 50, 100, 200};
        double[] err = new double[steps.length];
        StringBuilder log = new StringBuilder(name + " seed " + seed + ":");
        for (int k = 0; k < steps.length; k++) {
            double[] m = run(make.get(), Sigmas.karras(steps[k], SIGMA_MIN, SIGMA_MAX, 7), seed, n);
            err[k] = Math.abs(m[1] - STD * STD);
            log.append(String.format(Locale.ROOT, " %d steps var err %.3g (mean %.5f);", steps[k], err[k], m[0]));
        }
        // Monte Carlo std of the sample variance (stochastic samplers only: the deterministic start is exact)
        double mc = stochastic ? STD * STD * Math.sqrt(2.0 / n) : 0;
        for (int k = 1; k < steps.length; k++) {
            double observed = Math.log(err[k - 1] / err[k]) / Math.log(2);
            if (err[k] > 10 * mc) {
                // deterministic: 0.95-1.0 (Euler), 2.0-2.2 (Heun, DPM++ 2M, DPM++ 2S); Euler a: ~0.96
                assertEquals(order, observed, stochastic ? 0.35 : 0.25, log + " observed order " + observed);
            } else {
                // below the Monte Carlo noise (DPM++ 2S a from 50 steps): it must not grow
                assertTrue(err[k] < err[k - 1] + 4 * mc, log + " Monte Carlo std " + mc);
            }
        }
        System.out.println(log);
    }
}
