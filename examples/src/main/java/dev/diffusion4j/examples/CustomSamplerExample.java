package dev.diffusion4j.examples;

import dev.diffusion4j.core.GenerationRequest;
import dev.diffusion4j.core.GenerationResult;
import dev.diffusion4j.core.PngFiles;
import dev.diffusion4j.core.StableDiffusion;
import dev.diffusion4j.samplers.FastNoiseGenerator;
import dev.diffusion4j.samplers.NoiseGenerator;
import dev.diffusion4j.samplers.kdiffusion.Denoiser;
import dev.diffusion4j.samplers.kdiffusion.EulerSampler;
import dev.diffusion4j.samplers.kdiffusion.GaussianDenoiser;
import dev.diffusion4j.samplers.kdiffusion.Latents;
import dev.diffusion4j.samplers.kdiffusion.Sampler;
import dev.diffusion4j.samplers.kdiffusion.SamplerCallback;
import dev.diffusion4j.samplers.kdiffusion.Sigmas;
import dev.diffusion4j.tensor.Tensor;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Writes a new sampler in one class, tests it on a toy denoiser with an exact answer, and (given a model) plugs it
 * into the Stable Diffusion pipeline.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector -cp sd.jar dev.diffusion4j.examples.CustomSamplerExample
 * [MODEL_DIR_OR_SAFETENSORS]}. Without an argument only the toy runs (no network, no weights, a second or two).
 */
public final class CustomSamplerExample {
    private CustomSamplerExample() {
    }

    /**
     * The new sampler: the explicit midpoint rule in log sigma (one Euler half step to the geometric mean of the
     * two sigmas, then the full step with the midpoint's derivative). Second order, two model calls per step; the
     * step to sigma 0 is a plain Euler step (it returns the denoised estimate).
     */
    static final class MidpointSampler implements Sampler {
        @Override
        public String name() {
            return "midpoint";
        }

        @Override
        public Tensor sample(Denoiser denoiser, double[] sigmas, Tensor x, NoiseGenerator noise, SamplerCallback callback) {
            Sampler.checkArguments("MidpointSampler", denoiser, sigmas, x);
            for (int i = 0; i < sigmas.length - 1; i++) {
                double s = sigmas[i];
                double next = sigmas[i + 1];
                Tensor denoised = denoiser.denoise(x, s);
                if (next == 0) {
                    x = denoised;
                } else {
                    double mid = Math.sqrt(s * next);
                    Tensor xMid = Latents.addScaled(x, mid - s, Latents.derivative(x, denoised, s));
                    Tensor dMid = Latents.derivative(xMid, denoiser.denoise(xMid, mid), mid);
                    x = Latents.addScaled(x, next - s, dMid);
                }
                SamplerCallback.report(callback, i, sigmas, x, denoised);
            }
            return x;
        }
    }

    /**
     * The exact noisy marginal N(mean, std^2 + sigma^2) at the first sigma, the same draw for every sampler, shifted
     * and scaled to exactly that sample mean and variance: deterministic samplers are affine maps on this toy, so
     * what is left in the output moments is the sampler's own error, with no Monte Carlo noise.
     */
    static Tensor start(GaussianDenoiser toy, double sigma, int samples) {
        float[] z = new FastNoiseGenerator(42).randn(samples);
        double[] m = Latents.moments(Tensor.of(z, samples));
        double sd = Math.sqrt(toy.variance() + sigma * sigma);
        for (int i = 0; i < samples; i++) {
            z[i] = (float) (toy.mean() + sd * (z[i] - m[0]) / Math.sqrt(m[1]));
        }
        return Tensor.of(z, samples);
    }

    /** Runs the toy comparison, then (with a model argument) one generation with the new sampler. */
    public static void main(String[] args) throws Exception {
        // Data N(0.3, 0.6^2): its exact denoiser is known, and a perfect sampler returns exactly these moments.
        GaussianDenoiser toy = new GaussianDenoiser(0.3, 0.6);
        int samples = 1 << 16;
        System.out.printf(Locale.ROOT, "toy data N(%.2f, %.2f^2), %d samples, Karras sigmas 0.002..80%n", toy.mean(),
                toy.std(), samples);
        System.out.println("steps  sampler   mean      variance  |variance error|");
        Sampler[] samplers = {new EulerSampler(), new MidpointSampler()};
        for (int steps : new int[] {5, 10, 20, 40, 80}) {
            double[] sigmas = Sigmas.karras(steps, 0.002, 80, 7);
            for (Sampler sampler : samplers) {
                Tensor x = start(toy, sigmas[0], samples);
                double[] m = Latents.moments(sampler.sample(toy, sigmas, x, new FastNoiseGenerator(43), null));
                System.out.printf(Locale.ROOT, "%5d  %-8s  %.5f   %.5f   %.2e%n", steps, sampler.name(), m[0], m[1],
                        Math.abs(m[1] - toy.variance()));
            }
        }
        System.out.println("Euler's error halves with twice the steps (first order), the midpoint rule's quarters (second).");

        if (args.length > 0) {
            try (StableDiffusion sd = StableDiffusion.load(Path.of(args[0]))) {
                GenerationRequest request = GenerationRequest.builder().prompt("a lighthouse on a cliff, oil painting")
                        .steps(20).seed(7).schedule("karras").customSampler(new MidpointSampler()).build();
                GenerationResult result = sd.generate(request, e -> System.out.printf(Locale.ROOT,
                        "step %d/%d t=%.1f%n", e.step() + 1, e.totalSteps(), e.timestep()), new dev.diffusion4j.core.Cancellation());
                PngFiles.write(Path.of("custom-sampler.png"), result.image(), result.parameters().get(0));
                System.out.println("wrote custom-sampler.png");
            }
        }
    }
}
