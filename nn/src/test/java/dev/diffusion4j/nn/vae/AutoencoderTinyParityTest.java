package dev.diffusion4j.nn.vae;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.nn.Fixtures;
import dev.diffusion4j.nn.ModelConfig;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import dev.diffusion4j.weights.SafeTensors;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code variants/taesd}: diffusers' {@code AutoencoderTiny} encode and decode, diffusers and original layouts. */
class AutoencoderTinyParityTest {
    // README: TAESD atol 1e-4.
    private static final double TOL = 1e-4;
    private final Backend backend = CpuBackend.create();

    @Test
    void encodeAndDecodeMatchDiffusers() throws Exception {
        Path dir = Fixtures.dir().resolve("variants/taesd");
        try (SafeTensors w = SafeTensors.open(dir.resolve("model/diffusion_pytorch_model.safetensors"));
             SafeTensors encIn = SafeTensors.open(dir.resolve("encode/inputs.safetensors"));
             SafeTensors encOut = SafeTensors.open(dir.resolve("encode/outputs.safetensors"));
             SafeTensors decIn = SafeTensors.open(dir.resolve("decode/inputs.safetensors"));
             SafeTensors decOut = SafeTensors.open(dir.resolve("decode/outputs.safetensors"))) {
            AutoencoderTiny taesd = new AutoencoderTiny(ModelConfig.read(dir.resolve("model/config.json")),
                    StateDict.of(List.of(w)), backend);
            Tensor latents = taesd.encode(encIn.tensor("image"));
            Fixtures.assertClose("taesd encode latents", encOut.tensor("latents"), latents, TOL);
            Tensor scaled = taesd.scaleLatents(latents);
            Fixtures.assertClose("taesd scaled_latents_0_1", encOut.tensor("scaled_latents_0_1"), scaled, TOL);
            // README: latents_uint8 may differ by 1 (rounding at the edge); unscale_latents is exact arithmetic on it.
            Tensor refU8 = encOut.tensorF32("latents_uint8");
            float[] refLevels = new float[(int) refU8.numel()];
            for (int i = 0; i < refLevels.length; i++) {
                int mine = Math.round(scaled.getFlat(i) * 255f);
                assertTrue(Math.abs(mine - refU8.getFlat(i)) <= 1, "latents_uint8 at " + i + ": " + mine + " vs " + refU8.getFlat(i));
                refLevels[i] = refU8.getFlat(i) / 255f;
            }
            Fixtures.assertClose("taesd unscaled_from_uint8", encOut.tensor("unscaled_from_uint8"),
                    taesd.unscaleLatents(Tensor.of(refLevels, scaled.shape().dims())), 1e-6);

            Tensor decoded = taesd.decode(decIn.tensor("latents"));
            Fixtures.assertClose("taesd decoded", decOut.tensor("decoded"), decoded, TOL);
            Fixtures.assertClose("taesd decoded_of_encode_latents", decOut.tensor("decoded_of_encode_latents"),
                    taesd.decode(decIn.tensor("encode_latents")), TOL);
            int maxU8 = maxUint8Diff(decOut.tensorF32("image_uint8"), decoded);
            System.out.println("parity taesd image_uint8 max diff " + maxU8);
            assertTrue(maxU8 <= 1, "image_uint8 differs by " + maxU8);

            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> taesd.decode(Tensor.zeros(1, 3, 8, 8)));
            assertTrue(e.getMessage().contains("[1, 3, 8, 8]"), e.getMessage());
        }
    }

    @Test
    void originalLayoutFilesGiveTheSameModel() throws Exception {
        Path dir = Fixtures.dir().resolve("variants/taesd");
        try (SafeTensors enc = SafeTensors.open(dir.resolve("original_format_taesd_encoder.safetensors"));
             SafeTensors dec = SafeTensors.open(dir.resolve("original_format_taesd_decoder.safetensors"));
             SafeTensors encIn = SafeTensors.open(dir.resolve("encode/inputs.safetensors"));
             SafeTensors encOut = SafeTensors.open(dir.resolve("encode/outputs.safetensors"));
             SafeTensors decIn = SafeTensors.open(dir.resolve("decode/inputs.safetensors"));
             SafeTensors decOut = SafeTensors.open(dir.resolve("decode/outputs.safetensors"))) {
            ModelConfig cfg = ModelConfig.read(dir.resolve("model/config.json"));
            AutoencoderTiny both = new AutoencoderTiny(cfg, AutoencoderTiny.originalKeys(
                    StateDict.of(List.of(enc)), StateDict.of(List.of(dec))), backend);
            Fixtures.assertClose("taesd original-format encode", encOut.tensor("latents"), both.encode(encIn.tensor("image")), TOL);
            Fixtures.assertClose("taesd original-format decode", decOut.tensor("decoded"), both.decode(decIn.tensor("latents")), TOL);
            AutoencoderTiny decoderOnly = new AutoencoderTiny(cfg, AutoencoderTiny.originalKeys(null, StateDict.of(List.of(dec))), backend);
            assertFalse(decoderOnly.hasEncoder());
            assertThrows(IllegalStateException.class, () -> decoderOnly.encode(encIn.tensor("image")));
        }
    }

    /** Max |diffusers' uint8 − round(clamp(x/2+0.5, 0, 1)·255)| over {@code decoded} (NCHW) vs {@code ref} (NHWC). */
    static int maxUint8Diff(Tensor refNhwc, Tensor decoded) {
        int c = decoded.dim(1);
        int h = decoded.dim(2);
        int w = decoded.dim(3);
        int max = 0;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                for (int ch = 0; ch < c; ch++) {
                    float v = decoded.get(0, ch, y, x);
                    int mine = Math.round(Math.clamp(v / 2f + 0.5f, 0f, 1f) * 255f);
                    int ref = Math.round(refNhwc.get(0, y, x, ch));
                    max = Math.max(max, Math.abs(mine - ref));
                }
            }
        }
        return max;
    }
}
