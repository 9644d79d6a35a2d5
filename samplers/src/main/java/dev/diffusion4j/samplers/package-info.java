/**
 * Schedulers with diffusers 0.27.2 semantics and a PyTorch-compatible random generator.
 *
 * <ul>
 *   <li>{@link dev.diffusion4j.samplers.TorchGenerator}: bit-exact {@code torch.randn}/{@code torch.rand} on
 *       CPU (mt19937, AVX2 Box-Muller for numel &ge; 16, cached-pair scalar path below), so a seed gives
 *       the same initial latents and ancestral noise as a diffusers pipeline;
 *       {@link dev.diffusion4j.samplers.FastNoiseGenerator}: a faster, non-compatible alternative. Both
 *       implement {@link dev.diffusion4j.samplers.NoiseGenerator}, which pipelines take.</li>
 *   <li>{@link dev.diffusion4j.samplers.Scheduler}: one class per diffusers scheduler (PNDM, DDIM, Euler,
 *       Euler ancestral, DPM-Solver multistep/singlestep, LMS, Heun, KDPM2, DDPM, UniPC, DEIS, LCM), built
 *       from a {@link dev.diffusion4j.samplers.SchedulerConfig} ({@code scheduler_config.json} keys, class
 *       defaults for absent keys) directly or by class name through
 *       {@link dev.diffusion4j.samplers.Schedulers}. Schedules reproduce diffusers' float32/float64 mix
 *       (torch's AVX2 {@code linspace}, double-accumulated {@code cumprod}, numpy spacing and
 *       interpolation) exactly. {@link dev.diffusion4j.samplers.SamplerCatalog} maps the sampler and schedule
 *       names people know (A1111, stable-diffusion.cpp) to classes and config overrides.</li>
 *   <li>{@link dev.diffusion4j.samplers.kdiffusion}: k-diffusion-style samplers (one class each) over a
 *       {@code Denoiser}, for research and for the pipeline's {@code customSampler}.</li>
 * </ul>
 */
package dev.diffusion4j.samplers;
