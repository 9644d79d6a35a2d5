package dev.diffusion4j.core;

import com.fasterxml.jackson.jr.ob.JSON;
import dev.diffusion4j.nn.ModelConfig;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.clip.CLIPTextConfig;
import dev.diffusion4j.nn.clip.CLIPTextModel;
import dev.diffusion4j.nn.clip.CLIPTokenizer;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
import dev.diffusion4j.nn.vae.AutoencoderKL;
import dev.diffusion4j.samplers.SchedulerConfig;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import dev.diffusion4j.weights.Checkpoint;
import dev.diffusion4j.weights.CheckpointException;
import dev.diffusion4j.weights.HuggingFaceHub;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * A Stable Diffusion 1.x model ready to generate: tokenizer, text encoder, U-Net, VAE and the model's scheduler
 * config. Load it once with {@link #load(Path)} (a diffusers folder or a single-file checkpoint; weights stay
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
     */
    public record LoadOptions(Backend backend, Path tokenizer, Path unet, String variant, Path config) {
        /** The CPU backend on the shared pool, the model's own tokenizer, U-Net and configs, plain weight files. */
        public static LoadOptions defaults() {
            return new LoadOptions(null, null, null, null, null);
        }

        /** With another backend. */
        public LoadOptions withBackend(Backend b) {
            return new LoadOptions(b, tokenizer, unet, variant, config);
        }

        /** With a tokenizer folder ({@code vocab.json} + {@code merges.txt}). */
        public LoadOptions withTokenizer(Path p) {
            return new LoadOptions(backend, p, unet, variant, config);
        }

        /** With a U-Net from another diffusers component folder (e.g. an inpainting U-Net). */
        public LoadOptions withUnet(Path p) {
            return new LoadOptions(backend, tokenizer, p, variant, config);
        }

        /** With weight files of a variant, e.g. "fp16" for {@code *.fp16.safetensors}. */
        public LoadOptions withVariant(String v) {
            return new LoadOptions(backend, tokenizer, unet, v, config);
        }

        /** With a diffusers folder supplying the configs, tokenizer and scheduler config of a single-file checkpoint. */
        public LoadOptions withConfig(Path diffusersFolder) {
            return new LoadOptions(backend, tokenizer, unet, variant, diffusersFolder);
        }
    }

    private final String name;
    private final Backend backend;
    private final CLIPTokenizer tokenizer;
    private final CLIPTextModel textEncoder;
    private final UNet2DConditionModel unet;
    private final AutoencoderKL vae;
    private final SchedulerConfig schedulerConfig;
    private final List<AutoCloseable> owned;

    StableDiffusion(String name, Backend backend, CLIPTokenizer tokenizer, CLIPTextModel textEncoder,
                    UNet2DConditionModel unet, AutoencoderKL vae, SchedulerConfig schedulerConfig, List<AutoCloseable> owned) {
        this.name = name;
        this.backend = backend;
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        this.unet = unet;
        this.vae = vae;
        this.schedulerConfig = schedulerConfig;
        this.owned = List.copyOf(owned);
    }

    /** Loads a diffusers folder or a single-file checkpoint with default options. */
    public static StableDiffusion load(Path path) throws IOException {
        return load(path, LoadOptions.defaults());
    }

    /** Loads a diffusers folder or a single-file checkpoint. */
    public static StableDiffusion load(Path path, LoadOptions options) throws IOException {
        Backend backend = options.backend() != null ? options.backend() : CpuBackend.create();
        List<AutoCloseable> owned = new ArrayList<>();
        try {
            Checkpoint ck = Checkpoint.open(path, new Checkpoint.Options(options.variant(), false));
            owned.add(ck);
            Checkpoint unetCk = ck;
            String unetComponent = "unet";
            if (options.unet() != null) {
                unetCk = Checkpoint.open(options.unet(), new Checkpoint.Options(options.variant(), false));
                owned.add(unetCk);
                unetComponent = unetCk.components().iterator().next();
            }
            Path cfgDir = options.config();
            UNet2DConditionModel unet = new UNet2DConditionModel(
                    options.unet() == null ? config(ck, "unet", cfgDir) : config(unetCk, unetComponent, null),
                    stateDict(unetCk, unetComponent), backend);
            AutoencoderKL vae = new AutoencoderKL(config(ck, "vae", cfgDir), stateDict(ck, "vae"), backend);
            ModelConfig textCfg = config(ck, "text_encoder", cfgDir);
            if (!textCfg.has("num_attention_heads")) {
                throw new CheckpointException(ck.source(), "the text encoder's head count is not in the checkpoint (hidden size "
                        + textCfg.getInt("hidden_size", 0) + "): give a diffusers folder with text_encoder/config.json "
                        + "(LoadOptions.withConfig, sd --config)");
            }
            CLIPTextConfig textConfig = CLIPTextConfig.fromMap(textCfg.asMap());
            Checkpoint textCk = ck;
            CLIPTextModel text = CLIPTextModel.of(textConfig,
                    key -> textCk.contains("text_encoder", key) ? textCk.tensor("text_encoder", key) : null,
                    CLIPTextModel.DIFFUSERS_PREFIX, backend);
            // A config folder without tokenizer/ falls through to the Hugging Face cache (and the Hub) as no folder does.
            Path cfgTokenizer = cfgDir != null && Files.isRegularFile(cfgDir.resolve("tokenizer/vocab.json"))
                    ? cfgDir.resolve("tokenizer") : null;
            CLIPTokenizer tokenizer = CLIPTokenizer.load(tokenizerFolder(path,
                    options.tokenizer() != null ? options.tokenizer() : cfgTokenizer));
            SchedulerConfig scheduler = schedulerConfig(cfgDir != null ? cfgDir : path);
            return new StableDiffusion(displayName(path), backend, tokenizer, text, unet, vae,
                    scheduler, owned);
        } catch (IOException | RuntimeException e) {
            closeAll(owned, e);
            throw e;
        }
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
        closeAll(owned, null);
    }
}
