package dev.diffusion4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.nn.controlnet.ControlNetModel;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.SafeTensors;
import dev.diffusion4j.weights.SafeTensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * lllyasviel's ControlNet layout ({@code input_blocks}, {@code input_hint_block}, {@code zero_convs},
 * {@code middle_block_out}, with and without {@code control_model.}): the fixture's diffusers weights written under
 * the original names must load to the same model.
 */
class ControlNetOriginalLayoutTest {
    private static final Pattern DOWN = Pattern.compile("down_blocks\\.(\\d+)\\.(resnets|attentions|downsamplers)\\.(\\d+)\\.(.+)");
    private static final Pattern MID = Pattern.compile("mid_block\\.(resnets|attentions)\\.(\\d+)\\.(.+)");
    private static final Pattern HINT = Pattern.compile("controlnet_cond_embedding\\.blocks\\.(\\d+)\\.(.+)");

    @TempDir
    Path tmp;

    /** The original name of a diffusers ControlNet key of an SD1 U-Net with {@code layers_per_block} 1, 4 hint stages. */
    private static String original(String k) {
        int per = 2;
        Matcher m;
        if (k.startsWith("time_embedding.linear_1.")) {
            return "time_embed.0." + k.substring("time_embedding.linear_1.".length());
        }
        if (k.startsWith("time_embedding.linear_2.")) {
            return "time_embed.2." + k.substring("time_embedding.linear_2.".length());
        }
        if (k.startsWith("conv_in.")) {
            return "input_blocks.0.0." + k.substring("conv_in.".length());
        }
        if (k.startsWith("controlnet_cond_embedding.conv_in.")) {
            return "input_hint_block.0." + k.substring("controlnet_cond_embedding.conv_in.".length());
        }
        if (k.startsWith("controlnet_cond_embedding.conv_out.")) {
            return "input_hint_block.14." + k.substring("controlnet_cond_embedding.conv_out.".length());
        }
        if ((m = HINT.matcher(k)).matches()) {
            return "input_hint_block." + (2 * (Integer.parseInt(m.group(1)) + 1)) + "." + m.group(2);
        }
        if (k.startsWith("controlnet_down_blocks.")) {
            String rest = k.substring("controlnet_down_blocks.".length());
            int dot = rest.indexOf('.');
            return "zero_convs." + rest.substring(0, dot) + ".0" + rest.substring(dot);
        }
        if (k.startsWith("controlnet_mid_block.")) {
            return "middle_block_out.0." + k.substring("controlnet_mid_block.".length());
        }
        if ((m = DOWN.matcher(k)).matches()) {
            int level = Integer.parseInt(m.group(1));
            int j = Integer.parseInt(m.group(3));
            return switch (m.group(2)) {
                case "resnets" -> "input_blocks." + (1 + level * per + j) + ".0." + resnet(m.group(4));
                case "attentions" -> "input_blocks." + (1 + level * per + j) + ".1." + m.group(4);
                default -> "input_blocks." + (1 + level * per + 1) + ".0.op." + m.group(4).substring("conv.".length());
            };
        }
        if ((m = MID.matcher(k)).matches()) {
            int j = Integer.parseInt(m.group(2));
            return m.group(1).equals("resnets") ? "middle_block." + (2 * j) + "." + resnet(m.group(3))
                    : "middle_block.1." + m.group(3);
        }
        throw new IllegalArgumentException("no original name for " + k);
    }

    private static String resnet(String rest) {
        String[][] names = {{"norm1.", "in_layers.0."}, {"conv1.", "in_layers.2."}, {"time_emb_proj.", "emb_layers.1."},
            {"norm2.", "out_layers.0."}, {"conv2.", "out_layers.3."}, {"conv_shortcut.", "skip_connection."}};
        for (String[] n : names) {
            if (rest.startsWith(n[0])) {
                return n[1] + rest.substring(n[0].length());
            }
        }
        throw new IllegalArgumentException("resnet key " + rest);
    }

    private Path writeOriginal(Path diffusersFile, String prefix, String name) throws IOException {
        Path out = tmp.resolve(name);
        try (SafeTensors st = SafeTensors.open(diffusersFile)) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            for (String k : st.entries().keySet()) {
                w.add(prefix + original(k), st.tensor(k).toHeapF32());
            }
            w.write(out);
        }
        return out;
    }

    @Test
    void originalLayoutLoadsToTheSameModel() throws Exception {
        Path v = PipelineParityTest.fixtures().resolve("variants");
        Path cnDir = v.resolve("controlnet/controlnet_model");
        try (StableDiffusion sd = StableDiffusion.load(v.resolve("sd1_base"));
             SafeTensors in = SafeTensors.open(v.resolve("controlnet/forward/inputs.safetensors"))) {
            ControlNetModel ref = sd.loadControlNet(cnDir);
            assertEquals(ref.config().conditioningEmbeddingOutChannels().length, 4);
            float[] t = {in.longs("timestep")[0]};
            ControlNetModel.Output expected = ref.forward(in.tensor("sample"), t, in.tensor("encoder_hidden_states"),
                    in.tensor("controlnet_cond"), 0.8f, false);
            for (String prefix : new String[] {"", "control_model."}) {
                Path file = writeOriginal(cnDir.resolve("diffusion_pytorch_model.safetensors"), prefix,
                        "control_" + prefix.length() + ".safetensors");
                ControlNetModel cn = sd.loadControlNet(file);
                assertEquals(java.util.Arrays.toString(new int[] {8, 8, 16, 16}),
                        java.util.Arrays.toString(cn.config().conditioningEmbeddingOutChannels()));
                ControlNetModel.Output got = cn.forward(in.tensor("sample"), t, in.tensor("encoder_hidden_states"),
                        in.tensor("controlnet_cond"), 0.8f, false);
                for (int i = 0; i < expected.downBlockResSamples().size(); i++) {
                    VariantPipelineParityTest.assertAbs("original layout '" + prefix + "' residual " + i,
                            expected.downBlockResSamples().get(i), got.downBlockResSamples().get(i), 0);
                }
                VariantPipelineParityTest.assertAbs("original layout '" + prefix + "' mid", expected.midBlockResSample(),
                        got.midBlockResSample(), 0);
            }
            // A diffusers file without a config.json beside it: the structure comes from the U-Net.
            Path lone = tmp.resolve("lone");
            Files.createDirectories(lone);
            Files.copy(cnDir.resolve("diffusion_pytorch_model.safetensors"), lone.resolve("cn.safetensors"));
            ControlNetModel derived = sd.loadControlNet(lone.resolve("cn.safetensors"));
            Tensor mid = derived.forward(in.tensor("sample"), t, in.tensor("encoder_hidden_states"),
                    in.tensor("controlnet_cond"), 0.8f, false).midBlockResSample();
            VariantPipelineParityTest.assertAbs("derived-config mid", expected.midBlockResSample(), mid, 0);

            Path notCn = tmp.resolve("not.safetensors");
            new SafeTensorsWriter().addF32("foo", new float[] {1}, 1).write(notCn);
            IOException e = assertThrows(IOException.class, () -> sd.loadControlNet(notCn));
            assertTrue(e.getMessage().contains("not a ControlNet"), e.getMessage());
        }
    }
}
