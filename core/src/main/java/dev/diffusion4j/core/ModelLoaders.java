package dev.diffusion4j.core;

import dev.diffusion4j.nn.ModelConfig;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.controlnet.ControlNetConfig;
import dev.diffusion4j.nn.controlnet.ControlNetModel;
import dev.diffusion4j.nn.unet.UNet2DConditionConfig;
import dev.diffusion4j.nn.vae.AutoencoderTiny;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.SafeTensors;
import dev.diffusion4j.weights.Sd1KeyMap;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Loading of the add-on models (ControlNets, TAESD) from their diffusers or original file layouts. */
final class ModelLoaders {
    private static final Pattern HINT = Pattern.compile("input_hint_block\\.(\\d+)\\.(.+)");
    private static final Pattern ZERO = Pattern.compile("zero_convs\\.(\\d+)\\.0\\.(.+)");

    private ModelLoaders() {
    }

    /** A model and the files it keeps mapped. */
    record Loaded<T>(T model, List<AutoCloseable> owned) {
    }

    static Loaded<AutoencoderTiny> taesd(Path path, Backend backend) throws IOException {
        List<AutoCloseable> owned = new ArrayList<>();
        try {
            if (Files.isDirectory(path)) {
                if (Files.isRegularFile(path.resolve("config.json"))) {
                    SafeTensors st = open(weightsFile(path), owned);
                    return new Loaded<>(new AutoencoderTiny(ModelConfig.read(path.resolve("config.json")),
                            StateDict.of(List.of(st)), backend), owned);
                }
                Path dec = path.resolve("taesd_decoder.safetensors");
                if (!Files.isRegularFile(dec)) {
                    throw new IOException(path + ": neither a diffusers AutoencoderTiny folder (config.json) nor a folder "
                            + "with taesd_decoder.safetensors");
                }
                return taesd(dec, backend);
            }
            SafeTensors st = open(path, owned);
            StateDict sd = StateDict.of(List.of(st));
            if (st.contains("decoder.layers.0.weight")) {
                Path cfg = path.resolveSibling("config.json");
                AutoencoderTiny.Config config = Files.isRegularFile(cfg)
                        ? AutoencoderTiny.Config.from(ModelConfig.read(cfg)) : inferTaesdConfig(sd.find("decoder.layers.0.weight"));
                return new Loaded<>(new AutoencoderTiny(config, sd, backend), owned);
            }
            String name = path.getFileName().toString();
            if (!name.contains("decoder") || !st.contains("1.weight")) {
                throw new IOException(path + ": not a TAESD file (expected diffusers keys decoder.layers.* or "
                        + "madebyollin's taesd_decoder.safetensors)");
            }
            Path encPath = path.resolveSibling(name.replace("decoder", "encoder"));
            StateDict enc = Files.isRegularFile(encPath) ? StateDict.of(List.of(open(encPath, owned))) : null;
            StateDict keys = AutoencoderTiny.originalKeys(enc, sd);
            return new Loaded<>(new AutoencoderTiny(inferTaesdConfig(keys.find("decoder.layers.0.weight")), keys, backend), owned);
        } catch (IOException | RuntimeException e) {
            closeAll(owned, e);
            throw e;
        }
    }

    /** SD TAESD's structure with the width and latent channels of the first decoder conv {@code [width, latent, 3, 3]}. */
    private static AutoencoderTiny.Config inferTaesdConfig(Tensor firstDecoderConv) {
        AutoencoderTiny.Config sd = AutoencoderTiny.Config.sd();
        int width = firstDecoderConv.dim(0);
        int[] w = {width, width, width, width};
        return new AutoencoderTiny.Config(sd.inChannels(), sd.outChannels(), firstDecoderConv.dim(1), w, w,
                sd.numEncoderBlocks(), sd.numDecoderBlocks(), sd.upsamplingScalingFactor(), sd.latentMagnitude(),
                sd.latentShift(), sd.scalingFactor());
    }

    static Loaded<ControlNetModel> controlNet(Path path, UNet2DConditionConfig unet, Backend backend) throws IOException {
        List<AutoCloseable> owned = new ArrayList<>();
        try {
            Path file = Files.isDirectory(path) ? weightsFile(path) : path;
            Path cfg = Files.isDirectory(path) ? path.resolve("config.json") : path.resolveSibling("config.json");
            SafeTensors st = open(file, owned);
            if (st.contains("controlnet_cond_embedding.conv_in.weight")) {
                StateDict sd = StateDict.of(List.of(st));
                ControlNetConfig config = Files.isRegularFile(cfg) ? ControlNetConfig.from(ModelConfig.read(cfg))
                        : derivedConfig(unet, sd);
                return new Loaded<>(new ControlNetModel(config, sd, backend), owned);
            }
            String prefix = st.contains("control_model.input_hint_block.0.weight") ? "control_model." : "";
            if (!st.contains(prefix + "input_hint_block.0.weight")) {
                throw new IOException(file + ": not a ControlNet (no controlnet_cond_embedding.* or input_hint_block.* weights)");
            }
            StateDict sd = originalControlNet(st, prefix, unet.layersPerBlock());
            return new Loaded<>(new ControlNetModel(derivedConfig(unet, sd), sd, backend), owned);
        } catch (IOException | RuntimeException e) {
            closeAll(owned, e);
            throw e;
        }
    }

    /** diffusers' {@code ControlNetModel.from_unet}: the U-Net's structure, conditioning widths read off the weights. */
    private static ControlNetConfig derivedConfig(UNet2DConditionConfig unet, StateDict sd) {
        Tensor convIn = sd.get("controlnet_cond_embedding.conv_in.weight");
        List<Integer> widths = new ArrayList<>();
        widths.add(convIn.dim(0));
        for (int i = 1; sd.find("controlnet_cond_embedding.blocks." + i + ".weight") != null; i += 2) {
            widths.add(sd.find("controlnet_cond_embedding.blocks." + i + ".weight").dim(0));
        }
        return new ControlNetConfig(unet, convIn.dim(1), widths.stream().mapToInt(Integer::intValue).toArray(), false, false);
    }

    /** lllyasviel's layout under diffusers names (the encoder keys follow the SD single-file U-Net rules). */
    private static StateDict originalControlNet(SafeTensors st, String prefix, int layersPerBlock) {
        Sd1KeyMap unetKeys = new Sd1KeyMap(layersPerBlock, 1);
        int hintConvs = 0;
        for (String k : st.entries().keySet()) {
            Matcher m = HINT.matcher(k.startsWith(prefix) ? k.substring(prefix.length()) : "");
            if (m.matches()) {
                hintConvs = Math.max(hintConvs, Integer.parseInt(m.group(1)) / 2 + 1);
            }
        }
        Map<String, String> toStored = new HashMap<>();
        for (String stored : st.entries().keySet()) {
            if (!stored.startsWith(prefix)) {
                continue;
            }
            String k = stored.substring(prefix.length());
            String target = null;
            Matcher m;
            if ((m = HINT.matcher(k)).matches()) {
                int j = Integer.parseInt(m.group(1)) / 2;
                String module = j == 0 ? "conv_in" : j == hintConvs - 1 ? "conv_out" : "blocks." + (j - 1);
                target = "controlnet_cond_embedding." + module + "." + m.group(2);
            } else if ((m = ZERO.matcher(k)).matches()) {
                target = "controlnet_down_blocks." + m.group(1) + "." + m.group(2);
            } else if (k.startsWith("middle_block_out.0.")) {
                target = "controlnet_mid_block." + k.substring("middle_block_out.0.".length());
            } else {
                target = unetKeys.map("model.diffusion_model." + k).map(Sd1KeyMap.Target::key).orElse(null);
            }
            if (target != null) {
                toStored.put(target, stored);
            }
        }
        return new StateDict() {
            @Override
            public Tensor find(String key) {
                String stored = toStored.get(key);
                return stored == null ? null : st.tensor(stored);
            }

            @Override
            public String source() {
                return st.path() + " (original ControlNet layout)";
            }

            @Override
            public Set<String> keys() {
                return new TreeSet<>(toStored.keySet());
            }
        };
    }

    /** The weights of a diffusers component folder: the plain file, else the fp16 variant, else the only one. */
    private static Path weightsFile(Path dir) throws IOException {
        for (String name : List.of("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors")) {
            if (Files.isRegularFile(dir.resolve(name))) {
                return dir.resolve(name);
            }
        }
        List<Path> found = new ArrayList<>();
        try (var s = Files.list(dir)) {
            s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).forEach(found::add);
        }
        if (found.size() != 1) {
            throw new IOException(dir + ": expected diffusion_pytorch_model.safetensors (found " + found.size()
                    + " .safetensors files)");
        }
        return found.getFirst();
    }

    private static SafeTensors open(Path file, List<AutoCloseable> owned) throws IOException {
        SafeTensors st = SafeTensors.open(file);
        owned.add(st);
        return st;
    }

    private static void closeAll(List<AutoCloseable> owned, Throwable cause) {
        for (AutoCloseable c : owned) {
            try {
                c.close();
            } catch (Exception e) {
                cause.addSuppressed(e);
            }
        }
    }
}
