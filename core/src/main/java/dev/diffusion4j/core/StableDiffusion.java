package dev.diffusion4j.core;

import com.fasterxml.jackson.jr.ob.JSON;
import dev.diffusion4j.nn.ModelConfig;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.clip.CLIPTextConfig;
import dev.diffusion4j.nn.clip.CLIPTextModel;
import dev.diffusion4j.nn.clip.CLIPTokenizer;
import dev.diffusion4j.nn.controlnet.ControlNetModel;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
import dev.diffusion4j.nn.vae.AutoencoderKL;
import dev.diffusion4j.nn.vae.AutoencoderTiny;
import dev.diffusion4j.samplers.SchedulerConfig;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.StreamedWeightsBackend;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import dev.diffusion4j.weights.Checkpoint;
import dev.diffusion4j.weights.CheckpointException;
import dev.diffusion4j.weights.HuggingFaceHub;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * A Stable Diffusion 1.x, 2.x or XL model ready to generate: tokenizer(s), text encoder(s), U-Net, VAE and the model's
 * scheduler config. Load it once with {@link #load(Path)} (a diffusers folder or a single-file checkpoint; weights stay
 * memory-mapped) and call {@link #generate} for as many requests as needed; {@link #close()} unmaps the files.
 *
 * <p>Generations on one instance may run concurrently from several threads: the models are immutable and every
 * request has its own scheduler and generator.
 */
public final class StableDiffusion implements AutoCloseable {
    /**
     * How to load a model.
     *
     * @param backend the backend to compute on (null: the CPU backend on the shared pool)
     * @param tokenizer a tokenizer folder ({@code vocab.json} + {@code merges.txt}), or null for the model's own,
     *     the config folder's, or the local Hugging Face cache's
     * @param unet a diffusers U-Net component folder to use instead of the model's (e.g. an inpainting U-Net), or null
     * @param variant weight files of a variant, e.g. "fp16" for {@code *.fp16.safetensors}, or null
     * @param config a diffusers folder whose component configs, tokenizer and scheduler config describe a single-file
     *     checkpoint (as diffusers' {@code from_single_file(config=...)}): needed when the file alone cannot say, e.g.
     *     the text encoder's head count of a non-standard CLIP; or null
     * @param loras LoRAs merged at load
     * @param releaseWeightPages drop each stage's memory-mapped weight pages from resident memory once the stage is
     *     done (text encoder after encoding, U-Net before the decode, VAE after it; see
     *     {@link Checkpoint#releasePages}), so they are never all resident at once: lower peak memory for a few
     *     tenths of a second per image to read them back from the page cache
     * @param quantization how the U-Net's weights are held: {@link Quantization#NONE} (as stored, the default) or
     *     {@link Quantization#Q8_0} (8-bit blocks made at load, after merging LoRAs, in memory the model owns; the
     *     mapped pages of the U-Net are released once it is quantised, so only the 8-bit copy stays resident)
     * @param streamWeights drop the memory-mapped pages of every op's weights as soon as the op is done (the backend
     *     is wrapped in a {@link StreamedWeightsBackend}): only the weights of the op in progress are resident, the
     *     rest wait in the operating system's page cache; the lowest peak memory, for the page faults of reading
     *     every weight back on every step
     */
    public record LoadOptions(Backend backend, Path tokenizer, Path unet, String variant, Path config,
                              List<LoraSpec> loras, boolean releaseWeightPages, Quantization quantization,
                              boolean streamWeights) {
        /** Validates and copies the LoRA list; a null quantization is {@link Quantization#NONE}. */
        public LoadOptions {
            loras = loras == null ? List.of() : List.copyOf(loras);
            quantization = quantization == null ? Quantization.NONE : quantization;
        }

        /** Options without weight streaming. */
        public LoadOptions(Backend backend, Path tokenizer, Path unet, String variant, Path config,
                           List<LoraSpec> loras, boolean releaseWeightPages, Quantization quantization) {
            this(backend, tokenizer, unet, variant, config, loras, releaseWeightPages, quantization, false);
        }

        /** Options with weights as stored (no quantization). */
        public LoadOptions(Backend backend, Path tokenizer, Path unet, String variant, Path config,
                           List<LoraSpec> loras, boolean releaseWeightPages) {
            this(backend, tokenizer, unet, variant, config, loras, releaseWeightPages, Quantization.NONE);
        }

        /** Options without LoRAs (the original five). */
        public LoadOptions(Backend backend, Path tokenizer, Path unet, String variant, Path config) {
            this(backend, tokenizer, unet, variant, config, List.of(), false);
        }

        /** Options with LoRAs, weight pages kept resident. */
        public LoadOptions(Backend backend, Path tokenizer, Path unet, String variant, Path config, List<LoraSpec> loras) {
            this(backend, tokenizer, unet, variant, config, loras, false);
        }

        /** The CPU backend on the shared pool, the model's own tokenizer, U-Net and configs, plain weight files. */
        public static LoadOptions defaults() {
            return new LoadOptions(null, null, null, null, null);
        }

        /** With another backend. */
        public LoadOptions withBackend(Backend b) {
            return new LoadOptions(b, tokenizer, unet, variant, config, loras, releaseWeightPages, quantization, streamWeights);
        }

        /** With a tokenizer folder ({@code vocab.json} + {@code merges.txt}). */
        public LoadOptions withTokenizer(Path p) {
            return new LoadOptions(backend, p, unet, variant, config, loras, releaseWeightPages, quantization, streamWeights);
        }

        /** With a U-Net from another diffusers component folder (e.g. an inpainting U-Net). */
        public LoadOptions withUnet(Path p) {
            return new LoadOptions(backend, tokenizer, p, variant, config, loras, releaseWeightPages, quantization, streamWeights);
        }

        /** With weight files of a variant, e.g. "fp16" for {@code *.fp16.safetensors}. */
        public LoadOptions withVariant(String v) {
            return new LoadOptions(backend, tokenizer, unet, v, config, loras, releaseWeightPages, quantization, streamWeights);
        }

        /** With a diffusers folder supplying the configs, tokenizer and scheduler config of a single-file checkpoint. */
        public LoadOptions withConfig(Path diffusersFolder) {
            return new LoadOptions(backend, tokenizer, unet, variant, diffusersFolder, loras, releaseWeightPages, quantization, streamWeights);
        }

        /** With one more LoRA merged at load (see {@link StableDiffusion#withLoras}). */
        public LoadOptions withLora(Path file, double scale) {
            List<LoraSpec> l = new ArrayList<>(loras);
            l.add(new LoraSpec(file, scale));
            return new LoadOptions(backend, tokenizer, unet, variant, config, l, releaseWeightPages, quantization, streamWeights);
        }

        /** With each stage's weight pages released once the stage is done (see {@link LoadOptions}). */
        public LoadOptions withReleaseWeightPages(boolean release) {
            return new LoadOptions(backend, tokenizer, unet, variant, config, loras, release, quantization, streamWeights);
        }

        /** With the U-Net's weights held as {@code q} (see {@link LoadOptions}). */
        public LoadOptions withQuantization(Quantization q) {
            return new LoadOptions(backend, tokenizer, unet, variant, config, loras, releaseWeightPages, q, streamWeights);
        }

        /** With every op's weight pages released once the op is done (see {@link LoadOptions}). */
        public LoadOptions withStreamWeights(boolean stream) {
            return new LoadOptions(backend, tokenizer, unet, variant, config, loras, releaseWeightPages, quantization,
                    stream);
        }
    }

    /**
     * A LoRA file and the scale it is merged at ({@code <lora:name:scale>} in A1111, {@code lora_scale} of diffusers'
     * {@code fuse_lora}).
     */
    public record LoraSpec(Path path, double scale) {
        /** Checks the arguments. */
        public LoraSpec {
            java.util.Objects.requireNonNull(path, "path");
            if (!Double.isFinite(scale)) {
                throw new IllegalArgumentException("LoRA scale must be finite, got " + scale + " for " + path);
            }
        }
    }

    /**
     * What merging LoRAs did: per file, the number of weights changed, and every file key that matched nothing
     * (with the reason).
     */
    public record LoraReport(Map<Path, Integer> merged, Map<Path, Map<String, String>> unmatched) {
        /** True when every key of every file was merged. */
        public boolean clean() {
            return unmatched.values().stream().allMatch(Map::isEmpty);
        }
    }

    /**
     * What the text encoders and U-Net are built from, kept so LoRAs can be merged and unmerged without reloading;
     * the {@code text2} parts are SDXL's {@code text_encoder_2} (null otherwise).
     */
    private record Sources(ModelConfig unetConfig, StateDict unetWeights, Supplier<UNet2DConditionModel> baseUnet,
                           CLIPTextConfig textConfig, StateDict textWeights, CLIPTextModel baseText,
                           CLIPTextConfig text2Config, StateDict text2Weights, CLIPTextModel baseText2,
                           Quantization quantization, Runnable releaseUnetPages) {
    }

    /** {@code s}, evaluated once on first use. */
    private static <T> Supplier<T> once(Supplier<T> s) {
        return new Supplier<>() {
            private T value;

            @Override
            public synchronized T get() {
                if (value == null) {
                    value = s.get();
                }
                return value;
            }
        };
    }

    /**
     * {@code weights} with the U-Net's linear and convolution weights quantised into {@code arena} (nothing to do for
     * {@link Quantization#NONE}); the mapped pages they were read from are released, so only the 8-bit copy stays
     * resident (the few weights left as stored fault back in from the page cache on first use).
     */
    private static StateDict quantizeUnet(Quantization q, StateDict weights, Arena arena, Runnable releasePages) {
        if (q == Quantization.NONE) {
            return weights;
        }
        long t0 = System.nanoTime();
        Quantization.Result r = q.apply(weights, arena);
        releasePages.run();
        System.getLogger(StableDiffusion.class.getName()).log(System.Logger.Level.INFO, () -> String.format(
                "U-Net %s: %d weights, %.1f MB -> %.1f MB in %.1f s", q, r.count(), r.bytesBefore() / 1e6,
                r.bytesAfter() / 1e6, (System.nanoTime() - t0) / 1e9));
        return r.weights();
    }

    private final String name;
    private final Backend backend;
    private final CLIPTokenizer tokenizer;
    private final CLIPTextModel textEncoder;
    private final UNet2DConditionModel unet;
    private final AutoencoderKL vae;
    private final SchedulerConfig schedulerConfig;
    private final List<AutoCloseable> owned;
    /** Files opened after loading (ControlNets, TAESD), closed with the model. */
    private final List<AutoCloseable> attached = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile AutoencoderTiny taesd;
    /** What releases each stage's weight pages (nothing unless {@link LoadOptions#releaseWeightPages}). */
    private volatile WeightPages weightPages = WeightPages.NONE;
    private final Sources sources;
    private final List<LoraSpec> loras;
    private final LoraReport loraReport;
    /** SDXL's second tokenizer/encoder and zeroing rule; null for SD 1.x/2.x. */
    private final SdxlConditioning sdxl;

    StableDiffusion(String name, Backend backend, CLIPTokenizer tokenizer, CLIPTextModel textEncoder,
                    UNet2DConditionModel unet, AutoencoderKL vae, SchedulerConfig schedulerConfig, List<AutoCloseable> owned) {
        this(name, backend, tokenizer, textEncoder, unet, vae, schedulerConfig, owned, null);
    }

    StableDiffusion(String name, Backend backend, CLIPTokenizer tokenizer, CLIPTextModel textEncoder,
                    UNet2DConditionModel unet, AutoencoderKL vae, SchedulerConfig schedulerConfig, List<AutoCloseable> owned,
                    SdxlConditioning sdxl) {
        this.sdxl = sdxl;
        this.name = name;
        this.backend = backend;
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        this.unet = unet;
        this.vae = vae;
        this.schedulerConfig = schedulerConfig;
        this.owned = List.copyOf(owned);
        this.sources = null;
        this.loras = List.of();
        this.loraReport = new LoraReport(Map.of(), Map.of());
    }

    private StableDiffusion(StableDiffusion base, CLIPTextModel textEncoder, UNet2DConditionModel unet,
                            SchedulerConfig schedulerConfig, List<AutoCloseable> owned, Sources sources,
                            List<LoraSpec> loras, LoraReport loraReport) {
        this(base, textEncoder, unet, base.sdxl, schedulerConfig, owned, sources, loras, loraReport);
    }

    private StableDiffusion(StableDiffusion base, CLIPTextModel textEncoder, UNet2DConditionModel unet,
                            SdxlConditioning sdxl, SchedulerConfig schedulerConfig, List<AutoCloseable> owned,
                            Sources sources, List<LoraSpec> loras, LoraReport loraReport) {
        this.sdxl = sdxl;
        this.name = base.name;
        this.backend = base.backend;
        this.tokenizer = base.tokenizer;
        this.textEncoder = textEncoder;
        this.unet = unet;
        this.vae = base.vae;
        this.schedulerConfig = schedulerConfig;
        this.owned = List.copyOf(owned);
        this.sources = sources;
        this.loras = List.copyOf(loras);
        this.loraReport = loraReport;
        // A derived instance sees the base's TAESD; files attached later stay owned by whoever attached them.
        this.taesd = base.taesd;
        this.weightPages = base.weightPages;
    }

    /** Releases the memory-mapped weight pages of a finished stage (see {@link LoadOptions#releaseWeightPages}). */
    record WeightPages(Runnable text, Runnable unet, Runnable vae) {
        static final WeightPages NONE = new WeightPages(() -> { }, () -> { }, () -> { });
    }

    WeightPages weightPages() {
        return weightPages;
    }

    /** Loads a diffusers folder or a single-file checkpoint with default options. */
    public static StableDiffusion load(Path path) throws IOException {
        return load(path, LoadOptions.defaults());
    }

    /** Loads a diffusers folder or a single-file checkpoint. */
    public static StableDiffusion load(Path path, LoadOptions options) throws IOException {
        Backend given = options.backend() != null ? options.backend() : CpuBackend.create();
        Backend backend = options.streamWeights() ? new StreamedWeightsBackend(given) : given;
        List<AutoCloseable> owned = new ArrayList<>();
        try {
            Checkpoint ck = Checkpoint.open(path, new Checkpoint.Options(options.variant(), false));
            owned.add(ck);
            if (ck.layout() == dev.diffusion4j.weights.CheckpointLayout.PLAIN) {
                // A LoRA, a ControlNet or some other file: say what it is rather than that a config is missing.
                throw new CheckpointException(path, "not a Stable Diffusion model (" + ck.report().notes().getFirst() + ")");
            }
            Checkpoint unetCk = ck;
            String unetComponent = "unet";
            if (options.unet() != null) {
                unetCk = Checkpoint.open(options.unet(), new Checkpoint.Options(options.variant(), false));
                owned.add(unetCk);
                unetComponent = unetCk.components().iterator().next();
            }
            Path cfgDir = options.config();
            if (cfgDir == null && ck.layout() == dev.diffusion4j.weights.CheckpointLayout.SINGLE_FILE
                    && ck.components().contains("text_encoder_2")) {
                // As diffusers' from_single_file: the configs of the base model's diffusers repo.
                cfgDir = sdxlConfigFolder(huggingFaceHubCache()).orElseThrow(() -> new CheckpointException(ck.source(),
                        "an SDXL single file needs a diffusers config folder for its configs, tokenizers and scheduler"
                        + " (LoadOptions.withConfig, sd --config DIR), e.g. stabilityai/stable-diffusion-xl-base-1.0"
                        + " without the weights (looked in " + huggingFaceHubCache() + " too)"));
            }
            ModelConfig unetCfg = options.unet() == null ? config(ck, "unet", cfgDir) : config(unetCk, unetComponent, null);
            StateDict unetWeights = stateDict(unetCk, unetComponent);
            Quantization quantization = options.quantization();
            Arena quantArena = null;
            if (quantization != Quantization.NONE) {
                // Owned by the model: closed (the 8-bit weights freed) in close(), with the mapped files.
                quantArena = Arena.ofShared();
                owned.add(quantArena);
            }
            Checkpoint unetOf = unetCk;
            String unetKey = unetComponent;
            Runnable releaseUnetPages = () -> unetOf.releasePages(unetKey);
            // With LoRAs the U-Net that runs is the merged one, quantised after merging (in mergeLoras).
            UNet2DConditionModel unet = new UNet2DConditionModel(unetCfg, options.loras().isEmpty()
                    ? quantizeUnet(quantization, unetWeights, quantArena, releaseUnetPages) : unetWeights, backend);
            AutoencoderKL vae = new AutoencoderKL(config(ck, "vae", cfgDir), stateDict(ck, "vae"), backend);
            ModelConfig textCfg = config(ck, "text_encoder", cfgDir);
            if (!textCfg.has("num_attention_heads")) {
                throw new CheckpointException(ck.source(), "the text encoder's head count is not in the checkpoint (hidden size "
                        + textCfg.getInt("hidden_size", 0) + "): give a diffusers folder with text_encoder/config.json "
                        + "(LoadOptions.withConfig, sd --config)");
            }
            CLIPTextConfig textConfig = CLIPTextConfig.fromMap(textCfg.asMap());
            StateDict textWeights = stateDict(ck, "text_encoder");
            CLIPTextModel text = CLIPTextModel.of(textConfig, textWeights::find, CLIPTextModel.DIFFUSERS_PREFIX, backend);
            // A config folder without tokenizer/ falls through to the Hugging Face cache (and the Hub) as no folder does.
            Path cfgTokenizer = cfgDir != null && Files.isRegularFile(cfgDir.resolve("tokenizer/vocab.json"))
                    ? cfgDir.resolve("tokenizer") : null;
            Path explicitTokenizer = options.tokenizer() != null ? options.tokenizer() : cfgTokenizer;
            boolean sd2 = ck.family() == dev.diffusion4j.weights.ModelFamily.SD2
                    || ck.family() == dev.diffusion4j.weights.ModelFamily.SD2_INPAINT;
            CLIPTokenizer tokenizer = CLIPTokenizer.load(sd2 && explicitTokenizer == null && !Files.isDirectory(path)
                    ? sd2TokenizerFolder(path) : tokenizerFolder(path, explicitTokenizer));
            SchedulerConfig scheduler = schedulerConfig(cfgDir != null ? cfgDir : path);
            if (cfgDir == null && !Files.isDirectory(path) && ck.config("scheduler").isPresent()) {
                // A single file's yaml may say what its scheduler must differ in (SD2's v-prediction).
                SchedulerConfig.Builder sb = scheduler.toBuilder();
                ck.config("scheduler").get().forEach(sb::set);
                scheduler = sb.build();
            }
            CLIPTextConfig text2Config = null;
            StateDict text2Weights = null;
            SdxlConditioning sdxl = null;
            if (ck.components().contains("text_encoder_2")) {
                text2Config = CLIPTextConfig.fromMap(config(ck, "text_encoder_2", cfgDir).asMap());
                text2Weights = stateDict(ck, "text_encoder_2");
                sdxl = sdxlConditioning(text2Config, text2Weights, path, cfgDir, backend);
            }
            StableDiffusion base = new StableDiffusion(displayName(path), backend, tokenizer,
                    text, unet, vae, scheduler, List.of(), sdxl);
            Arena baseArena = quantArena;
            Supplier<UNet2DConditionModel> baseUnet = options.loras().isEmpty() || quantization == Quantization.NONE
                    ? () -> unet
                    // the base U-Net quantised only if it is ever asked for (withoutLoras)
                    : once(() -> new UNet2DConditionModel(unetCfg,
                            quantizeUnet(quantization, unetWeights, baseArena, releaseUnetPages), backend));
            Sources sources = new Sources(unetCfg, unetWeights, baseUnet, textConfig, textWeights, text, text2Config,
                    text2Weights, sdxl == null ? null : sdxl.textEncoder2(), quantization, releaseUnetPages);
            if (options.releaseWeightPages()) {
                Checkpoint unetFrom = unetCk;
                String unetName = unetComponent;
                base.weightPages = new WeightPages(() -> {
                    ck.releasePages("text_encoder");
                    if (ck.components().contains("text_encoder_2")) {
                        ck.releasePages("text_encoder_2");
                    }
                }, () -> unetFrom.releasePages(unetName), () -> ck.releasePages("vae"));
            }
            StableDiffusion model = new StableDiffusion(base, text, unet, scheduler, owned, sources, List.of(),
                    base.loraReport);
            return options.loras().isEmpty() ? model : model.mergeLoras(options.loras(), owned, quantArena);
        } catch (IOException | RuntimeException e) {
            closeAll(owned, e);
            throw e;
        }
    }

    /**
     * SDXL's second text encoder ({@code text_encoder_2}, with projection), its tokenizer ({@code tokenizer_2/} of the
     * model folder or the config folder) and {@code model_index.json}'s {@code force_zeros_for_empty_prompt}
     * (diffusers' default: true).
     */
    private static SdxlConditioning sdxlConditioning(CLIPTextConfig cfg2, StateDict weights2, Path path, Path cfgDir,
                                                     Backend backend) throws IOException {
        CLIPTextModel text2 = textEncoder2(cfg2, weights2, backend);
        Path folder = cfgDir != null ? cfgDir : path;
        Path tok2 = folder.resolve("tokenizer_2");
        if (!Files.isRegularFile(tok2.resolve("vocab.json"))) {
            throw new IOException(path + " is an SDXL model without tokenizer_2/ (vocab.json, merges.txt; pads with"
                    + " \"!\"): give a diffusers folder or a config folder (LoadOptions.withConfig, sd --config)");
        }
        boolean forceZeros = true;
        Path index = folder.resolve("model_index.json");
        if (Files.isRegularFile(index)) {
            Object v = JSON.std.mapFrom(Files.readString(index)).get("force_zeros_for_empty_prompt");
            if (v instanceof Boolean b) {
                forceZeros = b;
            }
        }
        return new SdxlConditioning(CLIPTokenizer.load(tok2), text2, forceZeros);
    }

    /** SDXL's {@code text_encoder_2} (with projection) from its weights. */
    private static CLIPTextModel textEncoder2(CLIPTextConfig cfg2, StateDict weights2, Backend backend) {
        return CLIPTextModel.withProjection(cfg2, weights2::find, CLIPTextModel.DIFFUSERS_PREFIX,
                CLIPTextModel.PROJECTION_KEY, backend);
    }

    /** SDXL's conditioning parts, or null for SD 1.x/2.x. */
    SdxlConditioning sdxl() {
        return sdxl;
    }

    /** True for an SDXL model (two text encoders, added size/crop conditioning). */
    public boolean isSdxl() {
        return sdxl != null;
    }

    /** SDXL's second text encoder ({@code text_encoder_2}, with projection), or null for SD 1.x/2.x. */
    public CLIPTextModel textEncoder2() {
        return sdxl == null ? null : sdxl.textEncoder2();
    }

    /** SDXL's second tokenizer (pads with {@code "!"}), or null for SD 1.x/2.x. */
    public CLIPTokenizer tokenizer2() {
        return sdxl == null ? null : sdxl.tokenizer2();
    }

    /** The config of {@code component}: {@code configDir/component/config.json} when given, else the checkpoint's. */
    private static ModelConfig config(Checkpoint ck, String component, Path configDir) throws IOException {
        if (configDir != null) {
            Path file = configDir.resolve(component).resolve("config.json");
            if (!Files.isRegularFile(file)) {
                throw new IOException("config folder " + configDir + " has no " + component + "/config.json");
            }
            return ModelConfig.read(file);
        }
        Map<String, Object> cfg = ck.config(component).orElseThrow(() -> new CheckpointException(ck.source(),
                "no config for component '" + component + "' (a diffusers folder needs " + component + "/config.json)"));
        return new ModelConfig(ck.source() + " [" + component + " config]", cfg);
    }

    private static StateDict stateDict(Checkpoint ck, String component) {
        return new StateDict() {
            @Override
            public Tensor find(String key) {
                return ck.contains(component, key) ? ck.tensor(component, key) : null;
            }

            @Override
            public String source() {
                return ck.source() + " [" + component + "]";
            }

            @Override
            public Set<String> keys() {
                return new TreeSet<>(ck.keys(component));
            }
        };
    }

    /**
     * The model's name: its file name without {@code .safetensors}, its folder's name, or for a Hugging Face cache
     * snapshot ({@code models--org--name/snapshots/<commit>}) the repo's name rather than the commit.
     */
    static String displayName(Path path) {
        Path p = path.toAbsolutePath().normalize();
        if (p.getNameCount() >= 3 && p.getParent().getFileName().toString().equals("snapshots")
                && p.getParent().getParent().getFileName().toString().startsWith("models--")) {
            String repo = p.getParent().getParent().getFileName().toString();
            return repo.substring(repo.lastIndexOf("--") + 2);
        }
        String name = path.getFileName() == null ? path.toString() : path.getFileName().toString();
        return name.replaceFirst("\\.safetensors$", "");
    }

    /** The Hub repo whose {@code vocab.json} and {@code merges.txt} SD 1.x's tokenizer is. */
    public static final String SD1_TOKENIZER_REPO = "openai/clip-vit-large-patch14";

    /** {@link #tokenizerFolder(Path, Path, HuggingFaceHub)} with the environment's Hub settings and no progress. */
    static Path tokenizerFolder(Path model, Path explicit) throws IOException {
        return tokenizerFolder(model, explicit, HuggingFaceHub.fromEnvironment());
    }

    /**
     * The tokenizer folder of {@code model}: the explicit one, the model's {@code tokenizer/}, else a snapshot of
     * {@code openai/clip-vit-large-patch14} (SD 1.x's tokenizer) in the Hugging Face cache, else its
     * {@code vocab.json} and {@code merges.txt} downloaded from the Hub into that cache (about 1.5 MB, once).
     *
     * @param hub where to look and download ({@link HuggingFaceHub#fromEnvironment()} plus a progress listener)
     * @throws IOException offline with no cached copy: one line naming the two files and where to put them
     */
    public static Path tokenizerFolder(Path model, Path explicit, HuggingFaceHub hub) throws IOException {
        if (explicit != null) {
            return explicit;
        }
        if (Files.isDirectory(model) && Files.isRegularFile(model.resolve("tokenizer/vocab.json"))) {
            return model.resolve("tokenizer");
        }
        List<String> files = List.of("vocab.json", "merges.txt");
        Path cache = hub.repoFolder(SD1_TOKENIZER_REPO).resolve("snapshots");
        if (Files.isDirectory(cache)) {
            try (Stream<Path> snapshots = Files.list(cache)) {
                for (Path s : (Iterable<Path>) snapshots.sorted()::iterator) {
                    if (files.stream().allMatch(f -> Files.isRegularFile(s.resolve(f)))) {
                        return s;
                    }
                }
            }
        }
        try {
            return hub.download(SD1_TOKENIZER_REPO, "main", files);
        } catch (HuggingFaceHub.OfflineException e) {
            throw new IOException(model + " has no tokenizer and the Hub cannot be reached (" + e.reason() + ") to fetch "
                    + SD1_TOKENIZER_REPO + "'s vocab.json and merges.txt: put those two files in " + cache
                    + "/<any>/, or pass a folder with them (sd --tokenizer DIR, LoadOptions.withTokenizer)", e);
        }
    }

    /**
     * The tokenizer of an SD 2.x single file: a Stable Diffusion 2.x tokenizer from the local Hugging Face cache. Not
     * CLIP ViT-L's: its vocabulary is the same but it pads with EOS, and SD 2.x (OpenCLIP) pads with {@code "!"} (id 0).
     */
    static Path sd2TokenizerFolder(Path model) throws IOException {
        HuggingFaceHub hub = HuggingFaceHub.fromEnvironment();
        for (String repo : List.of("stable-diffusion-2-1", "stable-diffusion-2-1-base", "stable-diffusion-2",
                "stable-diffusion-2-base")) {
            Path snapshots = hub.repoFolder("stabilityai/" + repo).resolve("snapshots");
            if (Files.isDirectory(snapshots)) {
                try (Stream<Path> s = Files.list(snapshots)) {
                    for (Path snap : (Iterable<Path>) s.sorted()::iterator) {
                        if (Files.isRegularFile(snap.resolve("tokenizer/vocab.json"))
                                && Files.isRegularFile(snap.resolve("tokenizer/merges.txt"))) {
                            return snap.resolve("tokenizer");
                        }
                    }
                }
            }
        }
        throw new IOException(model + " is an SD 2.x checkpoint and has no tokenizer: pass an SD 2.x tokenizer folder"
                + " (pad token \"!\"; --tokenizer / LoadOptions.withTokenizer) or a diffusers config folder (--config), or"
                + " put stabilityai/stable-diffusion-2-1's tokenizer/ in " + hub.cacheDir());
    }

    /**
     * A snapshot of {@code stabilityai/stable-diffusion-xl-base-1.0} in the Hugging Face hub cache {@code hub} holding
     * {@code model_index.json}, {@code unet/config.json} and {@code tokenizer_2/vocab.json} (the weights need not be
     * there), or empty.
     */
    static java.util.Optional<Path> sdxlConfigFolder(Path hub) throws IOException {
        Path snapshots = hub.resolve("models--stabilityai--stable-diffusion-xl-base-1.0/snapshots");
        if (Files.isDirectory(snapshots)) {
            try (Stream<Path> s = Files.list(snapshots)) {
                for (Path snap : (Iterable<Path>) s.sorted()::iterator) {
                    if (Files.isRegularFile(snap.resolve("model_index.json"))
                            && Files.isRegularFile(snap.resolve("unet/config.json"))
                            && Files.isRegularFile(snap.resolve("tokenizer_2/vocab.json"))) {
                        return java.util.Optional.of(snap);
                    }
                }
            }
        }
        return java.util.Optional.empty();
    }

    /** The Hugging Face hub cache folder of the environment's settings. */
    private static Path huggingFaceHubCache() {
        return HuggingFaceHub.fromEnvironment().cacheDir();
    }

    /** The model's {@code scheduler/scheduler_config.json}, else SD 1.5's (PNDM). */
    static SchedulerConfig schedulerConfig(Path model) throws IOException {
        Path file = model.resolve("scheduler/scheduler_config.json");
        if (Files.isDirectory(model) && Files.isRegularFile(file)) {
            try {
                return SchedulerConfig.fromMap(JSON.std.mapFrom(Files.readString(file)));
            } catch (IOException e) {
                throw new IOException(file + ": not a valid scheduler config: " + e.getMessage(), e);
            }
        }
        Map<String, Object> sd15 = new LinkedHashMap<>(SchedulerConfig.sd15().asMap());
        sd15.put("_class_name", "PNDMScheduler");
        return SchedulerConfig.fromMap(sd15);
    }

    private static void closeAll(List<AutoCloseable> owned, Throwable cause) {
        for (AutoCloseable c : owned) {
            try {
                c.close();
            } catch (Exception e) {
                if (cause != null) {
                    cause.addSuppressed(e);
                }
            }
        }
    }

    /** A display name of the model (its folder or file name). */
    public String name() {
        return name;
    }

    public Backend backend() {
        return backend;
    }

    public CLIPTokenizer tokenizer() {
        return tokenizer;
    }

    public CLIPTextModel textEncoder() {
        return textEncoder;
    }

    public UNet2DConditionModel unet() {
        return unet;
    }

    public AutoencoderKL vae() {
        return vae;
    }

    /** The model's scheduler config (as loaded). */
    public SchedulerConfig schedulerConfig() {
        return schedulerConfig;
    }

    /** The attached TAESD ({@link #loadTaesd}), or null. */
    public AutoencoderTiny taesd() {
        return taesd;
    }

    /**
     * Loads TAESD and attaches it to this model, for {@link GenerationRequest.VaeDecoder#TAESD} and
     * {@link #preview}. {@code path} is a diffusers {@code AutoencoderTiny} folder ({@code config.json} +
     * {@code diffusion_pytorch_model.safetensors}, e.g. madebyollin/taesd), or madebyollin's
     * {@code taesd_decoder.safetensors} (with {@code taesd_encoder.safetensors} next to it when present), or a folder
     * holding those two files. The files stay mapped until {@link #close()}.
     */
    public AutoencoderTiny loadTaesd(Path path) throws IOException {
        ModelLoaders.Loaded<AutoencoderTiny> loaded = ModelLoaders.taesd(path, backend);
        attached.addAll(loaded.owned());
        this.taesd = loaded.model();
        return loaded.model();
    }

    /**
     * Loads a ControlNet for this model's U-Net. {@code path} is a diffusers ControlNet folder ({@code config.json} +
     * {@code diffusion_pytorch_model.safetensors}), a {@code .safetensors} file with a {@code config.json} next to it,
     * or an original-layout file (lllyasviel's {@code control_*.safetensors}: {@code input_blocks.*},
     * {@code input_hint_block.*}, {@code zero_convs.*}, {@code middle_block_out.*}, with or without a
     * {@code control_model.} prefix), whose structure is taken from this model's U-Net config. The files stay mapped
     * until {@link #close()}.
     */
    public ControlNetModel loadControlNet(Path path) throws IOException {
        ModelLoaders.Loaded<ControlNetModel> loaded = ModelLoaders.controlNet(path, unet.config(), backend);
        attached.addAll(loaded.owned());
        return loaded.model();
    }

    /**
     * A quick look at latents mid-generation (batch entry 0): TAESD when one is attached, else the full VAE. Pass
     * {@link ProgressListener.StepEvent#predictedOriginal()} when the scheduler gives it (a cleaner picture than the
     * noisy latents).
     */
    public java.awt.image.BufferedImage preview(Tensor latents) {
        if (latents.rank() != 4 || latents.dim(0) < 1) {
            throw new IllegalArgumentException("preview: latents must be [B, C, h, w], got " + latents.shape());
        }
        Tensor first = latents.dim(0) == 1 ? latents
                : latents.toHeapF32().slice(0).reshape(1, latents.dim(1), latents.dim(2), latents.dim(3));
        AutoencoderTiny tiny = taesd;
        Tensor decoded;
        if (tiny != null) {
            decoded = tiny.decode(first);
        } else {
            float s = (float) vae.config().scalingFactor();
            decoded = vae.decode(backend.scale(first, 1f / s));
        }
        return Images.toImage(decoded, 0);
    }

    /**
     * The same loaded models with another scheduler config (e.g. a case's {@code scheduler_config.json}, or one with
     * {@code rescale_betas_zero_snr}); the result shares this instance's weights, and closing it closes nothing:
     * this instance still owns the files.
     */
    public StableDiffusion withSchedulerConfig(SchedulerConfig config) {
        return new StableDiffusion(this, textEncoder, unet, java.util.Objects.requireNonNull(config, "config"),
                List.of(), sources, loras, loraReport);
    }

    /**
     * The same model with {@code loras} merged into its text encoder(s) (SDXL: both) and U-Net, replacing any LoRAs
     * merged before (merging always starts from the base weights). Formula, per LoRA module (kohya/A1111 and diffusers/PEFT
     * files): {@code W' = W + scale · (alpha/rank) · (up.flatten(1) @ down.flatten(1)).reshape(W.shape)}, in float32;
     * several LoRAs on one weight add up.
     *
     * <p>Design: the merged weights are new tensors (F32 on the heap; F16/BF16 again when the base weight was F16/BF16,
     * in GC-owned native memory) that override the mapped ones in the model's {@code StateDict}s; only the text encoder
     * and U-Net are rebuilt (cheap: every other weight stays a view of the mapped files). Unmerging is dropping the
     * overrides: {@link #withoutLoras()} (or {@code withLoras(List.of())}) rebuilds from the untouched base weights,
     * so there is no subtraction and no drift. The returned instance shares this one's files (closing it closes
     * nothing); the files stay open until the instance returned by {@link #load} is closed.
     *
     * <p>File keys that match no weight are listed in {@link #loraReport()} and logged, never silently dropped.
     *
     * @throws IOException if a LoRA file cannot be read
     * @throws IllegalArgumentException if a file holds no LoRA module at all
     * @throws IllegalStateException if this instance was not made by {@link #load} (no base weights to merge into)
     */
    public StableDiffusion withLoras(List<LoraSpec> loras) throws IOException {
        return mergeLoras(loras, List.of(), null);
    }

    /** The same model with no LoRA merged (the base weights), see {@link #withLoras}. */
    public StableDiffusion withoutLoras() {
        try {
            return mergeLoras(List.of(), List.of(), null);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e); // cannot happen: nothing is read
        }
    }

    /** The LoRAs merged into this instance (empty for the base model). */
    public List<LoraSpec> loras() {
        return loras;
    }

    /** What the last merge did (empty for the base model). */
    public LoraReport loraReport() {
        return loraReport;
    }

    /**
     * @param quantArena where a merged U-Net's quantised weights go (the loading model's arena), or null for
     *     GC-owned memory ({@code Arena.ofAuto()}: a derived instance closes nothing)
     */
    private StableDiffusion mergeLoras(List<LoraSpec> specs, List<AutoCloseable> ownedByResult, Arena quantArena)
            throws IOException {
        if (sources == null) {
            throw new IllegalStateException("this StableDiffusion was not made by load(): no base weights to merge into");
        }
        Map<String, StateDict> base = new java.util.HashMap<>(Map.of("unet", sources.unetWeights(),
                "text_encoder", sources.textWeights()));
        if (sources.text2Weights() != null) {
            base.put("text_encoder_2", sources.text2Weights());
        }
        LoraMerge.Result r = LoraMerge.merge(specs, base, backend);
        for (Map.Entry<Path, Map<String, String>> e : r.report().unmatched().entrySet()) {
            if (!e.getValue().isEmpty()) {
                System.getLogger(StableDiffusion.class.getName()).log(System.Logger.Level.WARNING,
                        "LoRA " + e.getKey() + ": " + e.getValue().size() + " key(s) match nothing: " + e.getValue());
            }
        }
        StateDict unetWeights = r.weights().get("unet");
        StateDict textWeights = r.weights().get("text_encoder");
        // A component no LoRA touches keeps its base model (its StateDict is the base one).
        // LoRAs are merged into the stored weights first, then the merged ones quantised (when asked for).
        UNet2DConditionModel u = unetWeights == sources.unetWeights() ? sources.baseUnet().get()
                : new UNet2DConditionModel(sources.unetConfig(), quantizeUnet(sources.quantization(), unetWeights,
                        quantArena != null ? quantArena : Arena.ofAuto(), sources.releaseUnetPages()), backend);
        CLIPTextModel t = textWeights == sources.textWeights() ? sources.baseText()
                : CLIPTextModel.of(sources.textConfig(), textWeights::find, CLIPTextModel.DIFFUSERS_PREFIX, backend);
        SdxlConditioning x = sdxl;
        if (sdxl != null && sources.text2Weights() != null) {
            // SDXL's second encoder: the base one when untouched (this instance may hold a merged one).
            StateDict text2Weights = r.weights().get("text_encoder_2");
            CLIPTextModel t2 = text2Weights == sources.text2Weights() ? sources.baseText2()
                    : textEncoder2(sources.text2Config(), text2Weights, backend);
            x = new SdxlConditioning(sdxl.tokenizer2(), t2, sdxl.forceZerosForEmptyPrompt());
        }
        return new StableDiffusion(this, t, u, x, schedulerConfig, ownedByResult, sources, specs, r.report());
    }

    /** Runs one request. */
    public GenerationResult generate(GenerationRequest request) {
        return generate(request, ProgressListener.NONE, new Cancellation());
    }

    /** Runs one request, reporting every step, stopping (with a {@link java.util.concurrent.CancellationException}) when cancelled. */
    public GenerationResult generate(GenerationRequest request, ProgressListener listener, Cancellation cancellation) {
        return new Pipeline(this, request, listener, cancellation).run();
    }

    @Override
    public void close() {
        closeAll(attached, null);
        closeAll(owned, null);
    }
}
