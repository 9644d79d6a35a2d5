package dev.diffusion4j.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Files that are not Stable Diffusion checkpoints are told apart by their keys; SD3 and Flux are refused clearly. */
class FileKindTest {
    @TempDir
    Path dir;

    private Path file(String name, String... keys) throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        for (String k : keys) {
            w.addF32(k, new float[] {1, 2}, 2);
        }
        Path p = dir.resolve(name);
        w.write(p);
        return p;
    }

    private ModelFamily openedKind(Path p) throws IOException {
        try (Checkpoint c = Checkpoint.open(p, new Checkpoint.Options(null, true))) {
            return c.family();
        }
    }

    @Test
    void loraAndControlNetFilesAreNamed() throws IOException {
        assertEquals(ModelFamily.LORA, openedKind(file("kohya.safetensors",
                "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight",
                "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight")));
        assertEquals(ModelFamily.LORA, openedKind(file("peft.safetensors",
                "unet.down_blocks.0.attentions.0.proj_in.lora_A.weight", "unet.down_blocks.0.attentions.0.proj_in.lora_B.weight")));
        assertEquals(ModelFamily.CONTROLNET, openedKind(file("control_sd15_canny.safetensors",
                "control_model.input_hint_block.0.weight", "control_model.zero_convs.0.0.weight")));
        assertEquals(ModelFamily.CONTROLNET, openedKind(file("cn_diffusers.safetensors",
                "controlnet_cond_embedding.conv_in.weight", "controlnet_down_blocks.0.weight")));
        assertEquals(ModelFamily.UNKNOWN, openedKind(file("other.safetensors", "weight", "bias")));
        try (Checkpoint c = Checkpoint.open(file("lora2.safetensors", "x.lora_down.weight"))) {
            assertTrue(c.report().notes().getFirst().contains("--lora"), c.report().notes().toString());
        }
    }

    @Test
    void sd3AndFluxAreRefusedWithOneClearMessage() throws IOException {
        Path sd3 = file("sd3_medium.safetensors", "model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight");
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.open(sd3));
        assertTrue(e.getMessage().contains("SD3") && e.getMessage().contains("not supported"), e.getMessage());

        Path flux = file("flux1-dev.safetensors", "double_blocks.0.img_attn.qkv.weight", "single_blocks.0.linear1.weight");
        e = assertThrows(CheckpointException.class, () -> Checkpoint.open(flux));
        assertTrue(e.getMessage().contains("Flux") && e.getMessage().contains("not supported"), e.getMessage());
        assertTrue(e.getMessage().contains("flux1-dev.safetensors"), e.getMessage());

        Path fluxPrefixed = file("flux-single.safetensors", "model.diffusion_model.double_blocks.0.img_attn.qkv.weight");
        e = assertThrows(CheckpointException.class, () -> Checkpoint.open(fluxPrefixed));
        assertTrue(e.getMessage().contains("Flux"), e.getMessage());
        assertEquals(ModelFamily.FLUX, openedKind(fluxPrefixed));
    }
}
