/**
 * k-diffusion-style samplers for research: a {@link dev.diffusion4j.samplers.kdiffusion.Sampler} is one small class
 * that integrates from {@code sigmas[0]} to {@code sigmas[n]} with a
 * {@link dev.diffusion4j.samplers.kdiffusion.Denoiser} ({@code D(x, sigma)}, guidance already applied).
 *
 * <ul>
 *   <li>Samplers: {@link dev.diffusion4j.samplers.kdiffusion.EulerSampler},
 *       {@link dev.diffusion4j.samplers.kdiffusion.EulerAncestralSampler},
 *       {@link dev.diffusion4j.samplers.kdiffusion.HeunSampler},
 *       {@link dev.diffusion4j.samplers.kdiffusion.DpmPP2MSampler}; per-step
 *       {@link dev.diffusion4j.samplers.kdiffusion.SamplerCallback}s, which cancel by throwing.</li>
 *   <li>Schedules: {@link dev.diffusion4j.samplers.kdiffusion.Sigmas} (Karras, exponential) and a discrete model's
 *       {@link dev.diffusion4j.samplers.kdiffusion.DiscreteSchedule}.</li>
 *   <li>Denoisers: {@link dev.diffusion4j.samplers.kdiffusion.DiscreteDenoiser} (a U-Net predicting eps or v at a
 *       timestep) and {@link dev.diffusion4j.samplers.kdiffusion.GaussianDenoiser} (an exact toy for tests).</li>
 * </ul>
 *
 * <p>See {@code docs/samplers.md} and {@code examples/.../CustomSamplerExample.java}.
 */
package dev.diffusion4j.samplers.kdiffusion;
