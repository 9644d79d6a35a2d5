package dev.diffusion4j.nn.vae;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.nn.Fixtures;
import dev.diffusion4j.nn.ModelConfig;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import dev.diffusion4j.weights.SafeTensors;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AutoencoderKLParityTest {
    private static final double TOL = 1e-4;

    @Test
    void decodeAndEncodeMatchDiffusers() throws Exception {
        Path dir = Fixtures.dir();
        Path vaeDir = dir.resolve("models/tiny-sd/vae");
        try (SafeTensors w = SafeTensors.open(vaeDir.resolve("diffusion_pytorch_model.safetensors"));
             SafeTensors in = SafeTensors.open(dir.resolve("vae/inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("vae/outputs.safetensors"))) {
            AutoencoderKL vae = new AutoencoderKL(ModelConfig.read(vaeDir.resolve("config.json")),
                    StateDict.of(List.of(w)), CpuBackend.create());
            Map<String, Tensor> probed = new HashMap<>();
            Tensor decoded = vae.decode(in.tensor("z"), probed::put);
            LatentDistribution dist = vae.encode(in.tensor("image"), probed::put);
            int compared = Fixtures.assertProbesClose("vae ", out, probed, TOL);
            assertTrue(compared >= 12, "only " + compared + " intermediate outputs compared");
            Fixtures.assertClose("vae decoded", out.tensor("decoded"), decoded, TOL);
            Fixtures.assertClose("vae decoded_large", out.tensor("decoded_large"), vae.decode(in.tensor("z_large")), TOL);
            Fixtures.assertClose("vae latent_mean", out.tensor("latent_mean"), dist.mean(), TOL);
            Fixtures.assertClose("vae latent_logvar", out.tensor("latent_logvar"), dist.logvar(), TOL);
            Fixtures.assertClose("vae latent_std", out.tensor("latent_std"), dist.std(), TOL);
            Fixtures.assertClose("vae latent_sample", out.tensor("latent_sample"), dist.sample(out.tensor("sample_noise")), TOL);
        }
    }
}
