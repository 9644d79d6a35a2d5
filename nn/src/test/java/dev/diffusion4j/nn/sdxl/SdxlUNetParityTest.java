package dev.diffusion4j.nn.sdxl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.nn.ModelConfig;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.unet.UNet2DConditionConfig;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import dev.diffusion4j.weights.SafeTensors;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code variants/sdxl/unet_forward}: text_time added conditioning, SDXL block layout, layer list. */
class SdxlUNetParityTest {
    private static final double ATOL = 2e-4;
    private static final double RTOL = 1e-3;
    private final Backend backend = CpuBackend.create();

    @Test
    void forwardWithTextTimeMatchesDiffusers() throws Exception {
        Path dir = SdxlFixtures.dir();
        Path unetDir = dir.resolve("pipeline/unet");
        ModelConfig cfg = ModelConfig.read(unetDir.resolve("config.json"));
        UNet2DConditionConfig c = UNet2DConditionConfig.from(cfg);
        assertTrue(c.textTime());
        assertEquals(8, c.additionTimeEmbedDim());
        assertEquals(68, c.projectionClassEmbeddingsInputDim());
        assertArrayEquals(new int[] {1, 1, 2}, c.transformerLayersPerBlock());
        try (SafeTensors w = SafeTensors.open(unetDir.resolve("diffusion_pytorch_model.safetensors"));
             SafeTensors in = SafeTensors.open(dir.resolve("unet_forward/inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("unet_forward/outputs.safetensors"))) {
            UNet2DConditionModel unet = new UNet2DConditionModel(c, StateDict.of(List.of(w)), backend);
            float t = in.longs("timestep")[0];
            UNet2DConditionModel.AddedCond added = new UNet2DConditionModel.AddedCond(in.tensor("text_embeds"),
                    in.tensor("time_ids"));
            Tensor result = unet.forward(in.tensor("sample"), new float[] {t}, in.tensor("encoder_hidden_states"), added);
            SdxlFixtures.assertAllClose("sdxl unet sample_out", out.tensor("sample_out"), result, ATOL, RTOL);

            // The added conditioning is mandatory for a text_time model, and checked.
            assertThrows(IllegalArgumentException.class, () -> unet.forward(in.tensor("sample"), new float[] {t},
                    in.tensor("encoder_hidden_states")));
            assertThrows(IllegalArgumentException.class, () -> unet.forward(in.tensor("sample"), new float[] {t},
                    in.tensor("encoder_hidden_states"), new UNet2DConditionModel.AddedCond(in.tensor("time_ids"),
                            in.tensor("time_ids"))));
        }
    }

    @Test
    void textTimeConfigNeedsItsDimensions() throws Exception {
        Path unetDir = SdxlFixtures.dir().resolve("pipeline/unet");
        Map<String, Object> m = new LinkedHashMap<>(ModelConfig.read(unetDir.resolve("config.json")).asMap());
        m.put("projection_class_embeddings_input_dim", 48);
        assertThrows(IllegalArgumentException.class, () -> UNet2DConditionConfig.from(new ModelConfig("test", m)));
        m.put("addition_embed_type", "text_image");
        assertThrows(IllegalArgumentException.class, () -> UNet2DConditionConfig.from(new ModelConfig("test", m)));
    }
}
