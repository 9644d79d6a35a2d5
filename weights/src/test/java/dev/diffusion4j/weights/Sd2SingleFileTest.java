package dev.diffusion4j.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The SD 2.x single file (original LDM + OpenCLIP layout, F16) maps onto exactly the diffusers folder's weights:
 * every key of every component present, same shapes, same values (the weights are fp16-exact), fused q/k/v split,
 * the extra last resblock, {@code text_projection} and {@code logit_scale} ignored and reported.
 */
class Sd2SingleFileTest {
    static Path variants() {
        String p = System.getProperty("d4j.fixtures");
        Path dir = p == null ? null : Path.of(p, "variants");
        assumeTrue(dir != null && Files.isDirectory(dir), "fixtures absent: " + p);
        return dir;
    }

    @Test
    void mapsOntoTheDiffusersFolder() throws IOException {
        Path v = variants().resolve("sd2_v");
        try (Checkpoint single = Checkpoint.open(v.resolve("sd2_v_tiny_single_file_f16.safetensors"));
             Checkpoint folder = Checkpoint.open(v.resolve("pipeline"))) {
            assertEquals(ModelFamily.SD2, single.family());
            assertEquals(ModelFamily.SD2, folder.family());
            assertEquals(List.of(), single.report().unused(), "unused keys");
            assertEquals(List.of(), single.report().missing(), "missing keys");
            Set<String> ignored = new TreeSet<>();
            single.report().ignored().forEach(n -> ignored.add(n.key()));
            assertTrue(ignored.contains("cond_stage_model.model.text_projection"), ignored.toString());
            assertTrue(ignored.contains("cond_stage_model.model.logit_scale"), ignored.toString());
            assertTrue(ignored.contains("cond_stage_model.model.transformer.resblocks.3.attn.in_proj_weight"),
                    ignored.toString());
            int compared = 0;
            for (String c : List.of("unet", "vae", "text_encoder")) {
                assertEquals(folder.keys(c), single.keys(c), c + " key sets");
                for (String k : folder.keys(c)) {
                    Tensor a = folder.tensorF32(c, k);
                    Tensor b = single.tensor(c, k);
                    assertEquals(DType.F16, b.dtype(), c + "/" + k + " stays F16");
                    assertEquals(a.shape(), b.shape(), c + "/" + k + " shape");
                    assertArrayEquals(a.toFloatArray(), b.toFloatArray(), 0f, c + "/" + k);
                    compared++;
                }
            }
            Map<String, Object> te = single.config("text_encoder").orElseThrow();
            assertEquals(3, te.get("num_hidden_layers"), "one layer fewer than the 4 resblocks");
            assertEquals("gelu", te.get("hidden_act"));
            System.out.println("sd2 single file: " + compared + " tensors identical to the diffusers folder");
        }
    }

    /** With an LDM yaml beside it: heads from num_head_channels, v-prediction from parameterization. */
    @Test
    void yamlGivesHeadsAndPredictionType(@org.junit.jupiter.api.io.TempDir Path tmp) throws IOException {
        Path file = variants().resolve("sd2_v/sd2_v_tiny_single_file_f16.safetensors");
        Path link = Files.createSymbolicLink(tmp.resolve("tiny-sd2.safetensors"), file.toAbsolutePath());
        try (Checkpoint ck = Checkpoint.open(link)) {
            assertEquals(Map.of(), ck.config("scheduler").orElse(Map.of()), "no yaml: prediction type unknown");
            assertTrue(ck.report().notes().stream().anyMatch(n -> n.contains("prediction type unknown")),
                    ck.report().notes().toString());
            assertTrue(!ck.config("unet").orElseThrow().containsKey("attention_head_dim"),
                    "16-channel blocks are not 64-channel heads: left unknown");
        }
        Files.writeString(tmp.resolve("tiny-sd2.yaml"), """
                model:
                  target: ldm.models.diffusion.ddpm.LatentDiffusion
                  params:
                    parameterization: "v"
                    scale_factor: 0.18215
                    unet_config:
                      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
                      params:
                        num_head_channels: 8
                        use_linear_in_transformer: True
                """);
        try (Checkpoint ck = Checkpoint.open(link)) {
            assertEquals("v_prediction", ck.config("scheduler").orElseThrow().get("prediction_type"));
            Map<String, Object> unet = ck.config("unet").orElseThrow();
            assertEquals(List.of(2, 2, 4, 4), unet.get("attention_head_dim"));
            assertEquals(true, unet.get("use_linear_projection"));
            assertEquals(16, unet.get("cross_attention_dim"));
        }
    }
}
