package dev.diffusion4j.core;

import dev.diffusion4j.tensor.Tensor;
import java.awt.image.BufferedImage;
import java.util.List;

/**
 * What a generation produced: the images, the final latents (before the VAE), the VAE output (not clamped), the
 * parameters in A1111's text format and per-stage timings.
 *
 * @param images one RGB image per batch entry
 * @param latents final latents {@code [B, 4, h, w]}
 * @param decoded the VAE's output {@code [B, 3, H, W]}, not clamped
 * @param parameters the generation parameters (A1111's PNG {@code parameters} text), one per image (seeds differ)
 * @param timings wall times of the stages
 */
public record GenerationResult(List<BufferedImage> images, Tensor latents, Tensor decoded, List<String> parameters,
                               Timings timings) {
    /** Wall times in milliseconds: text encoding, each denoising step, and the VAE decode. */
    public record Timings(double textMillis, List<Double> stepMillis, double decodeMillis) {
        /** The sum of the step times. */
        public double totalStepMillis() {
            return stepMillis.stream().mapToDouble(Double::doubleValue).sum();
        }
    }

    /** The first image. */
    public BufferedImage image() {
        return images.get(0);
    }
}
