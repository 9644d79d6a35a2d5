package dev.diffusion4j.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.clip.CLIPTextModel;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
import dev.diffusion4j.nn.vae.AutoencoderKL;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/**
 * The built-in SDXL base 1.0 configurations build models of the real parameter counts (those of the released
 * diffusers folders: U-Net 2,567,463,684, CLIP-L 123,060,480, bigG with projection 694,659,840, VAE 83,653,863),
 * counted from the weight shapes the models ask for, without making the weights or running anything.
 */
class FullSizeModelsTest {
    private static final long MAX = 49408L * 1280;

    @Test
    void sdxlParameterCounts() {
        CpuBackend be = CpuBackend.create();
        try (Arena arena = Arena.ofConfined()) {
            StateDict u = FullSizeModels.shapesOnly(arena, MAX);
            new UNet2DConditionModel(FullSizeModels.sdxlUnetConfig(), u, be);
            StateDict v = FullSizeModels.shapesOnly(arena, MAX);
            new AutoencoderKL(FullSizeModels.sdxlVaeConfig(), v, be);
            StateDict t1 = FullSizeModels.shapesOnly(arena, MAX);
            var c1 = FullSizeModels.sdxlTextEncoderConfig();
            CLIPTextModel.of(c1, k -> t1.get(k, FullSizeModels.clipShape(c1, 768, k)), CLIPTextModel.DIFFUSERS_PREFIX, be);
            StateDict t2 = FullSizeModels.shapesOnly(arena, MAX);
            var c2 = FullSizeModels.sdxlTextEncoder2Config();
            CLIPTextModel.withProjection(c2, k -> t2.get(k, FullSizeModels.clipShape(c2, FullSizeModels.SDXL_PROJECTION_DIM, k)),
                    CLIPTextModel.DIFFUSERS_PREFIX, CLIPTextModel.PROJECTION_KEY, be);
            System.out.printf("SDXL parameters: unet %,d, vae %,d, text_encoder %,d, text_encoder_2 %,d%n",
                    FullSizeModels.parameterCount(u), FullSizeModels.parameterCount(v),
                    FullSizeModels.parameterCount(t1), FullSizeModels.parameterCount(t2));
            assertEquals(2_567_463_684L, FullSizeModels.parameterCount(u), "unet");
            assertEquals(83_653_863L, FullSizeModels.parameterCount(v), "vae");
            assertEquals(123_060_480L, FullSizeModels.parameterCount(t1), "text_encoder");
            assertEquals(694_659_840L, FullSizeModels.parameterCount(t2), "text_encoder_2");
        }
    }
}
