package dev.diffusion4j.weights;

import com.fasterxml.jackson.jr.ob.JSON;
import dev.diffusion4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * The weights of a model, from a diffusers folder or a single-file checkpoint, under one internal naming:
 * a component ({@code unet}, {@code vae}, {@code text_encoder}) and its diffusers key. Tensors stay in their
 * files (memory-mapped); {@link #tensor} gives them in the stored dtype (F16/BF16 keep 2 bytes per weight),
 * {@link #tensorF32} converted. Keys that map to nothing, keys ignored on purpose and expected keys that are
 * absent are all listed in {@link #report()}, never dropped silently.
 */
public final class Checkpoint implements AutoCloseable {
    /** Loading options: {@code variant} picks {@code *.<variant>.safetensors} files ("fp16"); null for the plain ones. */
    public record Options(String variant, boolean allowUnsupportedFamily) {
        /** Plain weights, supported families only. */
        public static Options defaults() {
            return new Options(null, false);
        }
    }

    /**
     * Where an internal key's tensor is stored; {@code shape} is the internal (diffusers) shape. {@code rowOffset}
     * &ge; 0 means the weight is rows {@code [rowOffset, rowOffset + shape[0])} of the stored tensor (one of q, k, v
     * of a fused OpenCLIP {@code in_proj_weight}); -1 means the whole stored tensor.
     */
    public record WeightRef(SafeTensors file, String storedKey, long[] storedShape, long[] shape, long rowOffset,
                            boolean transposed) {
        /** The whole stored tensor, seen with {@code shape}. */
        public WeightRef(SafeTensors file, String storedKey, long[] storedShape, long[] shape) {
            this(file, storedKey, storedShape, shape, -1);
        }

        /** Not transposed. */
        public WeightRef(SafeTensors file, String storedKey, long[] storedShape, long[] shape, long rowOffset) {
            this(file, storedKey, storedShape, shape, rowOffset, false);
        }

        /** True when the stored shape differs from the internal one (1×1 conv stored, linear used). */
        public boolean reshaped() {
            return rowOffset < 0 && !transposed && !Arrays.equals(storedShape, shape);
        }

        /** True when the weight is a row slice of the stored tensor. */
        public boolean sliced() {
            return rowOffset >= 0;
        }
    }

    /** A stored key and why it is listed. */
    public record KeyNote(String key, String reason) {
    }

    /** Keys that map to nothing, keys ignored by rule, expected internal keys that are absent, and notes. */
    public record KeyReport(List<KeyNote> unused, List<KeyNote> ignored, List<String> missing, List<String> notes) {
        /** True when nothing is unused or missing. */
        public boolean clean() {
            return unused.isEmpty() && missing.isEmpty();
        }
    }

    private static final List<String> WEIGHT_COMPONENTS = List.of("unet", "vae", "text_encoder", "text_encoder_2");

    private final Path source;
    private final CheckpointLayout layout;
    private final ModelFamily family;
    private final List<SafeTensors> files;
    private final Map<String, Map<String, WeightRef>> components;
    private final Map<String, Map<String, Object>> configs;
    private final KeyReport report;

    private Checkpoint(Path source, CheckpointLayout layout, ModelFamily family, List<SafeTensors> files,
            Map<String, Map<String, WeightRef>> components, Map<String, Map<String, Object>> configs, KeyReport report) {
        this.source = source;
        this.layout = layout;
        this.family = family;
        this.files = files;
        this.components = components;
        this.configs = configs;
        this.report = report;
    }

    /** Opens {@code path} (diffusers folder, component folder or single file) with default options. */
    public static Checkpoint open(Path path) throws IOException {
        return open(path, Options.defaults());
    }

    /**
     * Opens {@code path}, detecting its layout and family.
     *
     * @throws CheckpointException if the layout is not recognised, weights are missing, or the family is
     *     recognised but not yet supported; with {@code options.allowUnsupportedFamily()} diffusers folders of such
     *     families load, and such single files open with nothing mapped and every key reported unused
     * @throws SafeTensorsException if a weight file is invalid or a pickle
     */
    public static Checkpoint open(Path path, Options options) throws IOException {
        if (Files.isDirectory(path)) {
            return Files.exists(path.resolve("model_index.json")) || Files.isDirectory(path.resolve("unet"))
                    ? openDiffusers(path, options) : openComponent(path, options);
        }
        if (!Files.exists(path)) {
            throw new CheckpointException(path, "no such file or folder");
        }
        SafeTensors st = SafeTensors.open(path);
        try {
            if (isSingleFile(st)) {
                return openSingleFile(path, st, options);
            }
            ModelFamily kind = plainFileKind(st);
            if ((kind == ModelFamily.SD3 || kind == ModelFamily.FLUX) && !options.allowUnsupportedFamily()) {
                throw new CheckpointException(path, kind.label() + " weights are not supported: this engine runs the"
                        + " Stable Diffusion U-Net family (SD 1.x, 2.x, SDXL)");
            }
            Map<String, Map<String, WeightRef>> comps = new LinkedHashMap<>();
            comps.put("", identity(st, new LinkedHashMap<>()));
            String note = switch (kind) {
                case LORA -> "a LoRA file: merge it into a model with sd generate --lora PATH:SCALE";
                case CONTROLNET -> "a ControlNet: use it with sd generate --controlnet PATH --control-image PNG";
                case SD3, FLUX -> kind.label() + ": not supported (a different architecture)";
                default -> "no checkpoint layout recognised";
            };
            return new Checkpoint(path, CheckpointLayout.PLAIN, kind, List.of(st), comps, Map.of(),
                    new KeyReport(List.of(), List.of(), List.of(), List.of(note + "; tensors are exposed under"
                            + " component \"\" with their own names")));
        } catch (IOException | RuntimeException e) {
            st.close();
            throw e;
        }
    }

    // ---- single file --------------------------------------------------------------------------------------

    static boolean isSingleFile(SafeTensors st) {
        for (String k : st.entries().keySet()) {
            if (k.startsWith(Sd1KeyMap.UNET) || k.startsWith(Sd1KeyMap.VAE) || k.startsWith("cond_stage_model.")
                    || k.startsWith("conditioner.embedders.")) {
                return true;
            }
        }
        return false;
    }

    /**
     * What a file without a Stable Diffusion checkpoint layout holds, from its key names: a LoRA ({@code lora_down} /
     * {@code lora_up}, {@code lora_A} / {@code lora_B}), a ControlNet (original {@code input_hint_block} /
     * {@code zero_convs}, or diffusers {@code controlnet_cond_embedding}), SD3 ({@code joint_blocks}) or Flux
     * ({@code double_blocks}); else {@link ModelFamily#UNKNOWN}.
     */
    static ModelFamily plainFileKind(SafeTensors st) {
        for (String k : st.entries().keySet()) {
            if (k.contains(".lora_down.") || k.contains(".lora_up.") || k.contains(".lora_A.") || k.contains(".lora_B.")
                    || k.contains(".lora.down.") || k.contains(".lora.up.")) {
                return ModelFamily.LORA;
            }
            if (k.contains("input_hint_block.") || k.contains("zero_convs.") || k.startsWith("controlnet_cond_embedding.")
                    || k.startsWith("controlnet_down_blocks.")) {
                return ModelFamily.CONTROLNET;
            }
            if (k.startsWith("joint_blocks.") || k.contains(".joint_blocks.") || k.startsWith("transformer_blocks.0.ff_context.")) {
                return ModelFamily.SD3;
            }
            if (k.startsWith("double_blocks.") || k.contains(".double_blocks.") || k.startsWith("single_transformer_blocks.")) {
                return ModelFamily.FLUX;
            }
        }
        return ModelFamily.UNKNOWN;
    }

    /** The family of a single-file checkpoint from its key names and the U-Net's input channels. */
    public static ModelFamily singleFileFamily(SafeTensors st) {
        ModelFamily other = plainFileKind(st);
        if (other == ModelFamily.SD3 || other == ModelFamily.FLUX) {
            return other;
        }
        ModelFamily f = ModelFamily.UNKNOWN;
        boolean clipL = false;
        boolean openClip = false;
        for (String k : st.entries().keySet()) {
            if (k.startsWith("conditioner.embedders.") || k.startsWith(Sd1KeyMap.UNET + "label_emb.")) {
                f = ModelFamily.SDXL;
            } else if (k.startsWith("cond_stage_model.model.")) {
                openClip = true;
            } else if (k.startsWith(Sd1KeyMap.CLIP)) {
                clipL = true;
            }
        }
        if (f == ModelFamily.UNKNOWN) {
            if (openClip) {
                f = ModelFamily.SD2;
            } else if (clipL) {
                f = ModelFamily.SD1;
            } else {
                // No text encoder: the U-Net's cross-attention width tells SD1 (768) from SD2 (1024).
                SafeTensors.Entry k = st.entries().get(Sd1KeyMap.UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight");
                if (k != null && k.shape().length == 2) {
                    f = k.shape()[1] == 1024 ? ModelFamily.SD2 : k.shape()[1] == 768 ? ModelFamily.SD1 : f;
                }
            }
        }
        SafeTensors.Entry convIn = st.entries().get(Sd1KeyMap.UNET + "input_blocks.0.0.weight");
        if (convIn != null && convIn.shape().length == 4 && convIn.shape()[1] == 9) {
            f = f.inpainting();
        }
        return f;
    }

    /** SDXL's first text encoder (CLIP ViT-L, HF layout) in the original single file. */
    private static final String SDXL_CLIP_L = "conditioner.embedders.0.transformer.";

    private static Checkpoint openSingleFile(Path path, SafeTensors st, Options options) throws IOException {
        ModelFamily family = singleFileFamily(st);
        if (!family.singleFileSupported()) {
            String why = family == ModelFamily.SD3 || family == ModelFamily.FLUX
                    ? family.label() + " checkpoints are not supported: this engine runs the Stable Diffusion U-Net"
                            + " family (SD 1.x, 2.x, SDXL)"
                    : family.label() + " single-file checkpoints are recognised but not yet supported (SD1.x, SD2.x"
                            + " and SDXL key mappings exist)";
            if (!options.allowUnsupportedFamily()) {
                throw new CheckpointException(path, why + "; convert to a diffusers folder or wait for support");
            }
            // For inspection: nothing is mapped, and every key says why.
            List<KeyNote> unused = new ArrayList<>();
            for (String k : st.entries().keySet()) {
                unused.add(new KeyNote(k, family.label() + " key mapping not yet supported"));
            }
            return new Checkpoint(path, CheckpointLayout.SINGLE_FILE, family, List.of(st), Map.of(), Map.of(),
                    new KeyReport(List.copyOf(unused), List.of(), List.of(), List.of(why)));
        }
        List<String> notes = new ArrayList<>();
        Optional<LdmYaml> yaml = findYaml(path, notes);
        int layers = yaml.flatMap(y -> y.getLong("model.params.unet_config.params.num_res_blocks")).map(Long::intValue)
                .orElseGet(() -> inferLayersPerBlock(st));
        int vaeLevels = countIndices(st, Sd1KeyMap.VAE + "decoder.up.");
        Sd1KeyMap rules = new Sd1KeyMap(layers, Math.max(1, vaeLevels));
        boolean xl = family == ModelFamily.SDXL || family == ModelFamily.SDXL_INPAINT;
        OpenClipKeyMap openClip = xl
                ? new OpenClipKeyMap(OpenClipKeyMap.SDXL_PREFIX, countIndices(st, OpenClipKeyMap.SDXL_PREFIX
                        + "transformer.resblocks."), false)
                : new OpenClipKeyMap(countIndices(st, OpenClipKeyMap.PREFIX + "transformer.resblocks."));
        String openClipComponent = xl ? "text_encoder_2" : "text_encoder";
        Map<String, Map<String, WeightRef>> comps = new LinkedHashMap<>();
        for (String c : xl ? List.of("unet", "vae", "text_encoder", "text_encoder_2")
                : List.of("unet", "vae", "text_encoder")) {
            comps.put(c, new LinkedHashMap<>());
        }
        List<KeyNote> unused = new ArrayList<>();
        List<KeyNote> ignored = new ArrayList<>();
        for (SafeTensors.Entry e : st.entries().values()) {
            Optional<String> why = Sd1KeyMap.ignoreReason(e.name());
            if (why.isPresent()) {
                ignored.add(new KeyNote(e.name(), why.get()));
                continue;
            }
            if (xl && e.name().startsWith(SDXL_CLIP_L)) {
                // SDXL's first encoder is stored in HF layout under the embedder's "transformer." module.
                String k = e.name().substring(SDXL_CLIP_L.length());
                if (k.startsWith("text_model.embeddings.") || k.startsWith("text_model.encoder.layers.")
                        || k.startsWith("text_model.final_layer_norm.")) {
                    comps.get("text_encoder").put(k, new WeightRef(st, e.name(), e.shape(), e.shape()));
                } else {
                    unused.add(new KeyNote(e.name(), "no mapping rule (SDXL CLIP-L)"));
                }
                continue;
            }
            if (openClip.owns(e.name())) {
                Optional<String> skip = openClip.ignoreReason(e.name());
                if (skip.isPresent()) {
                    ignored.add(new KeyNote(e.name(), skip.get()));
                    continue;
                }
                List<OpenClipKeyMap.Target> targets = openClip.map(e.name(), e.shape());
                if (targets.isEmpty()) {
                    unused.add(new KeyNote(e.name(), "no mapping rule (OpenCLIP)"));
                }
                for (OpenClipKeyMap.Target ot : targets) {
                    WeightRef prev = comps.get(openClipComponent).put(ot.key(),
                            new WeightRef(st, e.name(), e.shape(), ot.shape(), ot.rowOffset(), ot.transposed()));
                    if (prev != null) {
                        throw new CheckpointException(path, "keys '" + prev.storedKey() + "' and '" + e.name()
                                + "' both map to " + openClipComponent + "/" + ot.key());
                    }
                }
                continue;
            }
            Optional<Sd1KeyMap.Target> t = rules.map(e.name());
            if (t.isEmpty()) {
                unused.add(new KeyNote(e.name(), "no mapping rule"));
                continue;
            }
            long[] shape = e.shape();
            if (t.get().linearFromConv()) {
                if (shape.length == 4 && shape[2] == 1 && shape[3] == 1) {
                    shape = new long[] {shape[0], shape[1]};
                } else if (shape.length != 2) {
                    unused.add(new KeyNote(e.name(), "expected a 1x1 conv or linear weight, shape " + Arrays.toString(shape)));
                    continue;
                }
            }
            WeightRef prev = comps.get(t.get().component()).put(t.get().key(), new WeightRef(st, e.name(), e.shape(), shape));
            if (prev != null) {
                throw new CheckpointException(path, "keys '" + prev.storedKey() + "' and '" + e.name() + "' both map to "
                        + t.get().component() + "/" + t.get().key());
            }
        }
        Map<String, Map<String, Object>> configs = new LinkedHashMap<>();
        if (xl) {
            // The SDXL U-Net, text encoders' head counts and micro-conditioning sizes are not inferred from the
            // weights yet: a diffusers config folder supplies every config.
            notes.add("SDXL single file: configs come from a diffusers config folder (LoadOptions.withConfig, sd"
                    + " --config), e.g. stabilityai/stable-diffusion-xl-base-1.0's");
            return new Checkpoint(path, CheckpointLayout.SINGLE_FILE, family, List.of(st), freeze(comps), configs,
                    new KeyReport(List.copyOf(unused), List.copyOf(ignored), List.of(), List.copyOf(notes)));
        }
        configs.put("unet", LdmConfigs.unet(st, yaml, layers, notes));
        configs.put("vae", LdmConfigs.vae(st, yaml, notes));
        configs.put("text_encoder", openClip.resblocks() > 0 ? LdmConfigs.openClipTextEncoder(st, notes)
                : LdmConfigs.textEncoder(st, notes));
        if (family == ModelFamily.SD2 || family == ModelFamily.SD2_INPAINT) {
            sd2Defaults(configs, yaml, notes);
        }
        List<String> missing = missing(comps, configs, notes);
        return new Checkpoint(path, CheckpointLayout.SINGLE_FILE, family, List.of(st), freeze(comps), configs,
                new KeyReport(List.copyOf(unused), List.copyOf(ignored), missing, List.copyOf(notes)));
    }

    /**
     * SD 2.x specifics the weights do not say: the U-Net's heads when there is no yaml (every SD 2.x U-Net uses
     * 64-channel heads, LDM's {@code num_head_channels: 64}), and the prediction type from the yaml's
     * {@code parameterization} ("v" for the 768-v models) as a {@code scheduler} config.
     */
    private static void sd2Defaults(Map<String, Map<String, Object>> configs, Optional<LdmYaml> yaml, List<String> notes) {
        Map<String, Object> unet = configs.get("unet");
        if (unet != null && !unet.containsKey("attention_head_dim") && unet.get("block_out_channels") instanceof List<?> boc
                && boc.stream().allMatch(c -> c instanceof Integer i && i % 64 == 0)) {
            unet.put("attention_head_dim", boc.stream().map(c -> (Integer) c / 64).toList());
            notes.add("unet: SD2.x without yaml, 64-channel attention heads assumed (as every SD2.x U-Net)");
        }
        if (unet != null) {
            unet.put("cross_attention_dim", unet.getOrDefault("cross_attention_dim", 1024));
        }
        Optional<Object> p = yaml.flatMap(y -> y.get("model.params.parameterization"));
        Map<String, Object> sched = new LinkedHashMap<>();
        if (p.isPresent()) {
            sched.put("prediction_type", "v".equals(p.get()) ? "v_prediction" : "epsilon");
        } else if (yaml.isPresent()) {
            sched.put("prediction_type", "epsilon"); // LDM's default parameterization
        } else {
            notes.add("scheduler: SD2.x prediction type unknown without the LDM yaml (768-v models need v_prediction:"
                    + " put v2-inference-v.yaml beside the file, or give a diffusers config folder)");
        }
        if (!sched.isEmpty()) {
            configs.put("scheduler", sched);
        }
    }

    private static Optional<LdmYaml> findYaml(Path file, List<String> notes) throws IOException {
        String name = file.getFileName().toString();
        String stem = name.endsWith(".safetensors") ? name.substring(0, name.length() - ".safetensors".length()) : name;
        Path dir = file.toAbsolutePath().getParent();
        List<Path> candidates = new ArrayList<>();
        candidates.add(dir.resolve(stem + ".yaml"));
        candidates.add(dir.resolve(stem + "-inference.yaml"));
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.yaml")) {
            for (Path p : ds) {
                candidates.add(p);
            }
        }
        for (Path p : candidates) {
            if (Files.isRegularFile(p)) {
                LdmYaml y = LdmYaml.read(p);
                if (y.get("model.params.unet_config.params").isPresent()) {
                    notes.add("LDM config: " + p.getFileName());
                    return Optional.of(y);
                }
            }
        }
        notes.add("no LDM yaml beside the file: attention heads are not in the weights and must come from elsewhere");
        return Optional.empty();
    }

    static int inferLayersPerBlock(SafeTensors st) {
        int min = Integer.MAX_VALUE;
        for (String k : st.entries().keySet()) {
            if (k.startsWith(Sd1KeyMap.UNET + "input_blocks.") && k.endsWith(".0.op.weight")) {
                String idx = k.substring((Sd1KeyMap.UNET + "input_blocks.").length(), k.length() - ".0.op.weight".length());
                min = Math.min(min, Integer.parseInt(idx));
            }
        }
        return min == Integer.MAX_VALUE ? 2 : min - 1;
    }

    /** Number of distinct integers {@code i} in keys {@code prefix + i + "."}. */
    static int countIndices(SafeTensors st, String prefix) {
        Set<Integer> seen = new TreeSet<>();
        for (String k : st.entries().keySet()) {
            if (k.startsWith(prefix)) {
                String rest = k.substring(prefix.length());
                int dot = rest.indexOf('.');
                if (dot > 0 && rest.substring(0, dot).chars().allMatch(Character::isDigit)) {
                    seen.add(Integer.parseInt(rest.substring(0, dot)));
                }
            }
        }
        return seen.size();
    }

    private static List<String> missing(Map<String, Map<String, WeightRef>> comps,
            Map<String, Map<String, Object>> configs, List<String> notes) {
        List<String> missing = new ArrayList<>();
        for (Map.Entry<String, Map<String, WeightRef>> c : comps.entrySet()) {
            Map<String, Object> cfg = configs.get(c.getKey());
            Optional<Set<String>> expected = cfg == null ? Optional.empty() : ExpectedKeys.of(c.getKey(), cfg);
            if (expected.isEmpty()) {
                notes.add(c.getKey() + ": no expected key set (config unknown), missing keys not checked");
                continue;
            }
            for (String k : expected.get()) {
                if (!c.getValue().containsKey(k)) {
                    missing.add(c.getKey() + "/" + k);
                }
            }
            List<String> unexpected = c.getValue().keySet().stream().filter(k -> !expected.get().contains(k)).toList();
            if (!unexpected.isEmpty()) {
                notes.add(c.getKey() + ": " + unexpected.size() + " key(s) present but not expected by the config, e.g. "
                        + unexpected.subList(0, Math.min(3, unexpected.size())));
            }
        }
        return List.copyOf(missing);
    }

    // ---- diffusers ----------------------------------------------------------------------------------------

    private static Checkpoint openDiffusers(Path dir, Options options) throws IOException {
        List<String> notes = new ArrayList<>();
        List<String> names = new ArrayList<>();
        Path index = dir.resolve("model_index.json");
        String pipelineClass = "";
        if (Files.exists(index)) {
            Map<String, Object> mi = readJson(index);
            pipelineClass = String.valueOf(mi.getOrDefault("_class_name", ""));
            for (Map.Entry<String, Object> e : mi.entrySet()) {
                if (e.getValue() instanceof List<?> l && l.size() == 2 && l.get(0) != null
                        && WEIGHT_COMPONENTS.contains(e.getKey())) {
                    names.add(e.getKey());
                }
            }
        } else {
            notes.add("no model_index.json: components found by folder name");
            for (String c : WEIGHT_COMPONENTS) {
                if (Files.isDirectory(dir.resolve(c))) {
                    names.add(c);
                }
            }
        }
        List<SafeTensors> files = new ArrayList<>();
        Map<String, Map<String, WeightRef>> comps = new LinkedHashMap<>();
        Map<String, Map<String, Object>> configs = new LinkedHashMap<>();
        List<KeyNote> unused = new ArrayList<>();
        List<KeyNote> ignored = new ArrayList<>();
        try {
            for (String c : names) {
                Path cdir = dir.resolve(c);
                if (!Files.isDirectory(cdir)) {
                    throw new CheckpointException(dir, "model_index.json lists '" + c + "' but there is no " + c + "/ folder");
                }
                Path cfg = cdir.resolve("config.json");
                if (Files.exists(cfg)) {
                    configs.put(c, readJson(cfg));
                }
                comps.put(c, loadComponent(cdir, c, options, files, ignored, unused, notes));
            }
            ModelFamily family = diffusersFamily(pipelineClass, configs);
            checkSupported(dir, family, options);
            List<String> missing = missing(comps, configs, notes);
            return new Checkpoint(dir, CheckpointLayout.DIFFUSERS_FOLDER, family, List.copyOf(files), freeze(comps),
                    configs, new KeyReport(List.copyOf(unused), List.copyOf(ignored), missing, List.copyOf(notes)));
        } catch (IOException | RuntimeException e) {
            files.forEach(SafeTensors::close);
            throw e;
        }
    }

    private static Checkpoint openComponent(Path dir, Options options) throws IOException {
        Path cfg = dir.resolve("config.json");
        if (!Files.exists(cfg)) {
            throw new CheckpointException(dir, "not a model folder: no model_index.json (diffusers folder) and no"
                    + " config.json (diffusers component folder)");
        }
        Map<String, Object> config = readJson(cfg);
        String cls = String.valueOf(config.getOrDefault("_class_name", config.getOrDefault("architectures", "")));
        String c = cls.contains("UNet") ? "unet" : cls.contains("Autoencoder") ? "vae"
                : cls.contains("CLIPText") ? "text_encoder" : dir.getFileName().toString();
        List<String> notes = new ArrayList<>();
        List<SafeTensors> files = new ArrayList<>();
        List<KeyNote> unused = new ArrayList<>();
        List<KeyNote> ignored = new ArrayList<>();
        try {
            Map<String, Map<String, WeightRef>> comps = new LinkedHashMap<>();
            comps.put(c, loadComponent(dir, c, options, files, ignored, unused, notes));
            Map<String, Map<String, Object>> configs = Map.of(c, config);
            ModelFamily family = diffusersFamily("", configs);
            checkSupported(dir, family, options);
            List<String> missing = missing(comps, configs, notes);
            return new Checkpoint(dir, CheckpointLayout.DIFFUSERS_COMPONENT, family, List.copyOf(files), freeze(comps),
                    configs, new KeyReport(List.copyOf(unused), List.copyOf(ignored), missing, List.copyOf(notes)));
        } catch (IOException | RuntimeException e) {
            files.forEach(SafeTensors::close);
            throw e;
        }
    }

    private static void checkSupported(Path path, ModelFamily family, Options options) {
        if (!family.supported() && family != ModelFamily.UNKNOWN && !options.allowUnsupportedFamily()) {
            throw new CheckpointException(path, family.label() + " models are recognised but not yet supported");
        }
    }

    static ModelFamily diffusersFamily(String pipelineClass, Map<String, Map<String, Object>> configs) {
        Map<String, Object> unet = configs.getOrDefault("unet", Map.of());
        Map<String, Object> te = configs.getOrDefault("text_encoder", Map.of());
        ModelFamily f;
        if (pipelineClass.contains("XL") || configs.containsKey("text_encoder_2")
                || "text_time".equals(unet.get("addition_embed_type"))) {
            f = ModelFamily.SDXL;
        } else if ("gelu".equals(te.get("hidden_act")) || Integer.valueOf(1024).equals(unet.get("cross_attention_dim"))
                || Boolean.TRUE.equals(unet.get("use_linear_projection"))) {
            f = ModelFamily.SD2;
        } else if (!unet.isEmpty() || !te.isEmpty()) {
            f = ModelFamily.SD1;
        } else {
            f = ModelFamily.UNKNOWN;
        }
        if (Integer.valueOf(9).equals(unet.get("in_channels")) || pipelineClass.contains("Inpaint")) {
            f = f.inpainting();
        }
        return f;
    }

    /** Loads one diffusers component folder: plain, variant or sharded safetensors. */
    private static Map<String, WeightRef> loadComponent(Path folder, String component, Options options,
            List<SafeTensors> files, List<KeyNote> ignored, List<KeyNote> unused, List<String> notes) throws IOException {
        Path cdir = folder.toAbsolutePath().normalize(); // so shard paths can be checked to stay inside it
        String v = options.variant();
        List<String> stems = List.of("diffusion_pytorch_model", "model");
        List<String> tries = new ArrayList<>();
        if (v != null) {
            for (String s : stems) {
                tries.add(s + "." + v + ".safetensors");
                tries.add(s + ".safetensors.index." + v + ".json");
            }
        }
        for (String s : stems) {
            tries.add(s + ".safetensors");
            tries.add(s + ".safetensors.index.json");
        }
        Path chosen = null;
        for (String t : tries) {
            if (Files.isRegularFile(cdir.resolve(t))) {
                chosen = cdir.resolve(t);
                break;
            }
        }
        if (chosen == null) {
            // Only a variant present (e.g. just the fp16 file): take it and say so.
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(cdir, "*.safetensors")) {
                for (Path p : ds) {
                    chosen = chosen == null || p.getFileName().toString().compareTo(chosen.getFileName().toString()) < 0
                            ? p : chosen;
                }
            }
            if (chosen != null) {
                notes.add(component + ": no plain weights, using " + chosen.getFileName());
            }
        } else if (v != null && !chosen.getFileName().toString().contains("." + v + ".")) {
            notes.add(component + ": no '" + v + "' variant, using " + chosen.getFileName());
        }
        if (chosen == null) {
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(cdir)) {
                for (Path p : ds) {
                    if (SafeTensors.isPickleName(p)) {
                        throw SafeTensors.pickleError(p);
                    }
                }
            }
            throw new CheckpointException(cdir, "no weights: expected diffusion_pytorch_model.safetensors or"
                    + " model.safetensors (or a sharded *.safetensors.index.json)");
        }
        Map<String, WeightRef> out = new LinkedHashMap<>();
        if (chosen.getFileName().toString().endsWith(".json")) {
            Map<String, Object> idx = readJson(chosen);
            if (!(idx.get("weight_map") instanceof Map<?, ?> wm)) {
                throw new CheckpointException(chosen, "sharded index has no weight_map object");
            }
            Map<String, SafeTensors> shards = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : wm.entrySet()) {
                String key = String.valueOf(e.getKey());
                String shardName = String.valueOf(e.getValue());
                Path shard = cdir.resolve(shardName).normalize();
                if (!cdir.equals(shard.getParent())) {
                    throw new CheckpointException(chosen, "shard '" + shardName + "' of '" + key + "' is outside the folder");
                }
                SafeTensors st = shards.get(shardName);
                if (st == null) {
                    st = SafeTensors.open(shard);
                    files.add(st);
                    shards.put(shardName, st);
                }
                if (!st.contains(key)) {
                    throw new CheckpointException(chosen, "index maps '" + key + "' to " + shardName + ", which lacks it");
                }
                addIdentity(component, st, st.entries().get(key), out, ignored);
            }
            for (SafeTensors st : shards.values()) {
                for (String k : st.entries().keySet()) {
                    if (!wm.containsKey(k)) {
                        unused.add(new KeyNote(component + ":" + k, "in shard " + st.path().getFileName()
                                + " but not in the index"));
                    }
                }
            }
            notes.add(component + ": " + shards.size() + " shard(s) via " + chosen.getFileName());
        } else {
            SafeTensors st = SafeTensors.open(chosen);
            files.add(st);
            for (SafeTensors.Entry e : st.entries().values()) {
                addIdentity(component, st, e, out, ignored);
            }
        }
        return out;
    }

    private static void addIdentity(String component, SafeTensors st, SafeTensors.Entry e, Map<String, WeightRef> out,
            List<KeyNote> ignored) {
        Optional<String> why = Sd1KeyMap.ignoreReason(e.name());
        if (why.isPresent()) {
            ignored.add(new KeyNote(component + ":" + e.name(), why.get()));
            return;
        }
        out.put(e.name(), new WeightRef(st, e.name(), e.shape(), e.shape()));
    }

    private static Map<String, WeightRef> identity(SafeTensors st, Map<String, WeightRef> out) {
        for (SafeTensors.Entry e : st.entries().values()) {
            out.put(e.name(), new WeightRef(st, e.name(), e.shape(), e.shape()));
        }
        return out;
    }

    static Map<String, Object> readJson(Path p) throws IOException {
        String text = Files.readString(p);
        try {
            return JSON.std.mapFrom(text);
        } catch (IOException e) {
            throw new CheckpointException(p, "not valid JSON: " + e.getMessage());
        }
    }

    private static Map<String, Map<String, WeightRef>> freeze(Map<String, Map<String, WeightRef>> comps) {
        Map<String, Map<String, WeightRef>> out = new LinkedHashMap<>();
        comps.forEach((k, v) -> out.put(k, Collections.unmodifiableMap(v)));
        return Collections.unmodifiableMap(out);
    }

    // ---- access -------------------------------------------------------------------------------------------

    /** The folder or file this was opened from. */
    public Path source() {
        return source;
    }

    /** The layout detected. */
    public CheckpointLayout layout() {
        return layout;
    }

    /** The family detected. */
    public ModelFamily family() {
        return family;
    }

    /** The safetensors files opened (closed by {@link #close()}). */
    public List<SafeTensors> files() {
        return files;
    }

    /** The component names, e.g. {@code [unet, vae, text_encoder]}. */
    public Set<String> components() {
        return components.keySet();
    }

    /** The internal keys of {@code component}. */
    public Set<String> keys(String component) {
        return refs(component).keySet();
    }

    /** All internal references of {@code component}, key → where it is stored. */
    public Map<String, WeightRef> refs(String component) {
        Map<String, WeightRef> m = components.get(component);
        if (m == null) {
            throw new CheckpointException(source, "no component '" + component + "' (have " + components.keySet() + ")");
        }
        return m;
    }

    /**
     * Drops the memory-mapped pages of {@code component}'s weights from this process's resident memory
     * ({@code madvise(MADV_DONTNEED)} through {@link MemorySegment#unload()}). Nothing is lost: the pages are
     * read-only views of the file, stay in the operating system's page cache and come back on the next read. A
     * pipeline calls it for a stage it has finished (the text encoder after encoding, the U-Net before the VAE
     * decode) so the stages' weights are not all resident at once. Safe while other threads read the weights.
     */
    public void releasePages(String component) {
        for (WeightRef r : refs(component).values()) {
            java.lang.foreign.MemorySegment bytes = r.file().bytes(r.storedKey());
            if (bytes.isMapped() && bytes.byteSize() > 0) {
                bytes.unload();
            }
        }
    }

    /** True when {@code component} has {@code key}. */
    public boolean contains(String component, String key) {
        Map<String, WeightRef> m = components.get(component);
        return m != null && m.containsKey(key);
    }

    /** The stored view of {@code component}/{@code key}, already in the internal shape. */
    public StoredTensor stored(String component, String key) {
        WeightRef r = refs(component).get(key);
        if (r == null) {
            throw new CheckpointException(source, "component '" + component + "' has no weight '" + key + "'");
        }
        StoredTensor t = r.file().view(r.storedKey());
        if (r.sliced()) {
            return t.rows(r.rowOffset(), r.shape()[0]);
        }
        if (r.transposed()) {
            return t.transposed();
        }
        return r.reshaped() ? t.reshape(r.shape()) : t;
    }

    /** The weight in its stored dtype (F32/F16/BF16 stay views of the file; others are converted to F32). */
    public Tensor tensor(String component, String key) {
        return stored(component, key).toTensor(true);
    }

    /** The weight converted to a new F32 heap tensor. */
    public Tensor tensorF32(String component, String key) {
        return stored(component, key).toF32();
    }

    /** The diffusers-style config of {@code component}: read from {@code config.json}, or built from the LDM yaml. */
    public Optional<Map<String, Object>> config(String component) {
        return Optional.ofNullable(configs.get(component));
    }

    /** One component's weights, for a model loader: keys are diffusers keys, tensors in diffusers shapes. */
    public final class Component {
        private final String name;

        private Component(String name) {
            this.name = name;
            refs(name); // fails early for an unknown component
        }

        /** The component name ({@code unet}, {@code vae}, {@code text_encoder}). */
        public String name() {
            return name;
        }

        /** Its keys. */
        public Set<String> keys() {
            return Checkpoint.this.keys(name);
        }

        /** True when it has {@code key}. */
        public boolean contains(String key) {
            return Checkpoint.this.contains(name, key);
        }

        /** The weight in its stored dtype (see {@link Checkpoint#tensor}). */
        public Tensor tensor(String key) {
            return Checkpoint.this.tensor(name, key);
        }

        /** The weight as a new F32 heap tensor. */
        public Tensor tensorF32(String key) {
            return Checkpoint.this.tensorF32(name, key);
        }

        /** Its diffusers-style config, if known. */
        public Optional<Map<String, Object>> config() {
            return Checkpoint.this.config(name);
        }
    }

    /** The weights of component {@code name}. */
    public Component component(String name) {
        return new Component(name);
    }

    /** Unused, ignored and missing keys. */
    public KeyReport report() {
        return report;
    }

    @Override
    public void close() {
        for (SafeTensors f : files) {
            f.close();
        }
    }

    /** A compact multi-line description (layout, family, components) for logs and {@code sd inspect}. */
    public String describe() {
        StringBuilder b = new StringBuilder();
        b.append("layout: ").append(layout.label()).append('\n');
        boolean loadable = family.supported() && (layout != CheckpointLayout.SINGLE_FILE || family.singleFileSupported());
        boolean addOn = family == ModelFamily.LORA || family == ModelFamily.CONTROLNET || family == ModelFamily.UNKNOWN;
        b.append("family: ").append(family.label()).append(loadable || addOn ? "" : " (not supported)").append('\n');
        Set<String> names = new LinkedHashSet<>(components.keySet());
        for (String c : names) {
            long reshaped = components.get(c).values().stream().filter(WeightRef::reshaped).count();
            b.append("component ").append(c.isEmpty() ? "(none)" : c).append(": ").append(components.get(c).size())
                    .append(" tensors").append(reshaped > 0 ? ", " + reshaped + " reshaped 1x1 conv -> linear" : "")
                    .append('\n');
        }
        return b.toString();
    }
}
