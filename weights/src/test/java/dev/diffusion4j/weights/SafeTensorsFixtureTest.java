package dev.diffusion4j.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class SafeTensorsFixtureTest {
    static Path fixtures() {
        String p = System.getProperty("d4j.fixtures");
        Path dir = p == null ? null : Path.of(p);
        assumeTrue(dir != null && Files.isDirectory(dir), "fixtures absent: " + p);
        return dir;
    }

    @Test
    void readsUnetWeightsInAllThreeDtypes() throws Exception {
        Path unet = fixtures().resolve("models/tiny-sd/unet");
        try (SafeTensors f32 = SafeTensors.open(unet.resolve("diffusion_pytorch_model.safetensors"));
             SafeTensors f16 = SafeTensors.open(unet.resolve("diffusion_pytorch_model.fp16.safetensors"));
             SafeTensors bf16 = SafeTensors.open(unet.resolve("diffusion_pytorch_model.bf16.safetensors"))) {
            String key = "conv_in.weight";
            Tensor a = f32.tensor(key);
            Tensor h = f16.tensor(key);
            Tensor b = bf16.tensor(key);
            assertEquals(DType.F32, a.dtype());
            assertEquals(DType.F16, h.dtype());
            assertEquals(DType.BF16, b.dtype());
            assertEquals(a.shape(), h.shape());
            float[] x = a.toFloatArray();
            float[] y = h.toFloatArray();
            float[] z = b.toFloatArray();
            for (int i = 0; i < x.length; i++) {
                assertEquals(x[i], y[i], Math.abs(x[i]) * 1e-3 + 1e-7, key + "[" + i + "] f16");
                assertEquals(x[i], z[i], Math.abs(x[i]) * 8e-3 + 1e-30, key + "[" + i + "] bf16");
            }
            assertEquals(f32.entries().keySet(), f16.entries().keySet());
        }
    }

    @Test
    void readsInt64Timesteps() throws Exception {
        try (SafeTensors s = SafeTensors.open(fixtures().resolve("unet/inputs.safetensors"))) {
            long[] t = s.longs("timestep");
            assertEquals(2, t.length);
            for (long v : t) {
                org.junit.jupiter.api.Assertions.assertTrue(v >= 0 && v < 1000, "timestep " + v);
            }
        }
    }
}
