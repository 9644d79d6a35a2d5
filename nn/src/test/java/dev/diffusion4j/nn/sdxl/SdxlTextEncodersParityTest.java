package dev.diffusion4j.nn.sdxl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.nn.clip.CLIPTextModel;
import dev.diffusion4j.nn.clip.SdxlTextEncoders;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import dev.diffusion4j.weights.SafeTensors;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@code variants/sdxl/text_encoders}: both encoders, penultimate concat and the projected pooled embedding. */
class SdxlTextEncodersParityTest {
    private static final double ATOL = 1e-4;
    private static final double RTOL = 1e-4;
    private final Backend backend = CpuBackend.create();

    private static Tensor concat(Tensor a, Tensor b) {
        float[] fa = a.toFloatArray();
        float[] fb = b.toFloatArray();
        int rows = a.dim(0) * a.dim(1);
        int da = a.dim(2);
        int db = b.dim(2);
        float[] o = new float[rows * (da + db)];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(fa, r * da, o, r * (da + db), da);
            System.arraycopy(fb, r * db, o, r * (da + db) + da, db);
        }
        return Tensor.of(o, a.dim(0), a.dim(1), da + db);
    }

    @Test
    void promptEmbedsAndPooledMatchDiffusers() throws Exception {
        Path dir = SdxlFixtures.dir();
        Path pipe = dir.resolve("pipeline");
        try (CLIPTextModel te1 = CLIPTextModel.load(pipe.resolve("text_encoder"), backend);
             CLIPTextModel te2 = CLIPTextModel.loadWithProjection(pipe.resolve("text_encoder_2"), backend);
             SafeTensors in = SafeTensors.open(dir.resolve("text_encoders/inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("text_encoders/outputs.safetensors"))) {
            assertFalse(te1.hasProjection());
            assertTrue(te2.hasProjection());
            int[][] ids1 = SdxlFixtures.ids(in, "input_ids");
            int[][] ids2 = SdxlFixtures.ids(in, "input_ids_2");
            CLIPTextModel.Output o1 = te1.forward(ids1);
            CLIPTextModel.Output o2 = te2.forward(ids2);
            for (int i = 0; i < o1.hiddenStates().size(); i++) {
                SdxlFixtures.assertAllClose("te1 hidden " + i, out.tensor("te1_hidden_states." + i),
                        o1.hiddenStates().get(i), ATOL, RTOL);
            }
            for (int i = 0; i < o2.hiddenStates().size(); i++) {
                SdxlFixtures.assertAllClose("te2 hidden " + i, out.tensor("te2_hidden_states." + i),
                        o2.hiddenStates().get(i), ATOL, RTOL);
            }
            SdxlFixtures.assertAllClose("te1 last", out.tensor("te1_last_hidden_state"), o1.lastHiddenState(), ATOL, RTOL);
            SdxlFixtures.assertAllClose("te2 last", out.tensor("te2_last_hidden_state"), o2.lastHiddenState(), ATOL, RTOL);
            SdxlFixtures.assertAllClose("te2 pooler", out.tensor("te2_pooler_output"), o2.pooled(), ATOL, RTOL);

            SdxlTextEncoders enc = new SdxlTextEncoders(te1, te2);
            assertEquals(32, enc.hiddenSize());
            SdxlTextEncoders.Encoded e = enc.encode(ids1, ids2);
            SdxlFixtures.assertAllClose("prompt_embeds", out.tensor("prompt_embeds"), e.promptEmbeds(), ATOL, RTOL);
            SdxlFixtures.assertAllClose("pooled_prompt_embeds", out.tensor("pooled_prompt_embeds"), e.pooled(), ATOL, RTOL);

            // Clip skip 2 = hidden_states[-3] of both encoders; the pooled embedding is unchanged.
            SdxlTextEncoders.Encoded skip2 = enc.encode(ids1, ids2, 2);
            int b = ids1.length;
            Tensor want = concat(out.tensor("te1_hidden_states.1"), out.tensor("te2_hidden_states.1"));
            SdxlFixtures.assertAllClose("prompt_embeds clip skip 2", want, skip2.promptEmbeds(), ATOL, RTOL);
            SdxlFixtures.assertAllClose("pooled clip skip 2", out.tensor("pooled_prompt_embeds"), skip2.pooled(), ATOL, RTOL);
            assertEquals(b, skip2.pooled().dim(0));
            assertThrows(IllegalArgumentException.class, () -> enc.encode(ids1, ids2, 4));
            assertThrows(IllegalArgumentException.class, () -> new SdxlTextEncoders(te2, te1));
            assertThrows(IllegalStateException.class, () -> te1.textEmbeds(o1));
            assertThrows(IllegalArgumentException.class, () -> enc.encode(ids1, new int[][] {ids2[0]}));
        }
    }
}
