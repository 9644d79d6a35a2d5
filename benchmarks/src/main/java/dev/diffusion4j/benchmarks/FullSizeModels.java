package dev.diffusion4j.benchmarks;

import dev.diffusion4j.nn.ModelConfig;
import dev.diffusion4j.nn.clip.CLIPTextConfig;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.HalfFloats;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.nn.clip.CLIPTextConfig;
import dev.diffusion4j.nn.clip.CLIPTextModel;
import dev.diffusion4j.nn.unet.GuidanceHalves;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
import dev.diffusion4j.nn.vae.AutoencoderKL;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import dev.diffusion4j.weights.SafeTensorsWriter;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The real Stable Diffusion 1.5 and SDXL base 1.0 configurations with random weights made in memory (no download),
 * for benchmarks:
 * weights are drawn on demand with the shape the model asks for (std 1/sqrt(fan-in), norm scales 1, biases small),
 * stored as F16 off the heap (as a memory-mapped F16 checkpoint would be) or as F32 on the heap.
 */
public final class FullSizeModels {
    private FullSizeModels() {
    }

    /** SD 1.5's {@code unet/config.json}. */
    public static ModelConfig unetConfig() {
        Map<String, Object> c = new HashMap<>();
        c.put("in_channels", 4);
        c.put("out_channels", 4);
        c.put("block_out_channels", List.of(320, 640, 1280, 1280));
        c.put("down_block_types", List.of("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"));
        c.put("up_block_types", List.of("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"));
        c.put("layers_per_block", 2);
        c.put("attention_head_dim", 8);
        c.put("cross_attention_dim", 768);
        c.put("norm_num_groups", 32);
        c.put("sample_size", 64);
        return new ModelConfig("SD 1.5 unet config (built in)", c);
    }

    /** SD 1.5's {@code vae/config.json}. */
    public static ModelConfig vaeConfig() {
        Map<String, Object> c = new HashMap<>();
        c.put("block_out_channels", List.of(128, 256, 512, 512));
        c.put("layers_per_block", 2);
        c.put("latent_channels", 4);
        c.put("norm_num_groups", 32);
        c.put("scaling_factor", 0.18215);
        return new ModelConfig("SD 1.5 vae config (built in)", c);
    }

    /**
     * SDXL base 1.0's {@code unet/config.json} (stabilityai/stable-diffusion-xl-base-1.0): three levels, the first
     * without attention, 1/2/10 transformer layers, linear projections, {@code text_time} added conditioning.
     */
    public static ModelConfig sdxlUnetConfig() {
        Map<String, Object> c = new HashMap<>();
        c.put("in_channels", 4);
        c.put("out_channels", 4);
        c.put("block_out_channels", List.of(320, 640, 1280));
        c.put("down_block_types", List.of("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"));
        c.put("up_block_types", List.of("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"));
        c.put("layers_per_block", 2);
        c.put("transformer_layers_per_block", List.of(1, 2, 10));
        c.put("attention_head_dim", List.of(5, 10, 20));
        c.put("cross_attention_dim", 2048);
        c.put("use_linear_projection", true);
        c.put("addition_embed_type", "text_time");
        c.put("addition_embed_type_num_heads", 64);
        c.put("addition_time_embed_dim", 256);
        c.put("projection_class_embeddings_input_dim", 2816);
        c.put("norm_num_groups", 32);
        c.put("norm_eps", 1e-5);
        c.put("sample_size", 128);
        return new ModelConfig("SDXL base 1.0 unet config (built in)", c);
    }

    /** SDXL base 1.0's {@code vae/config.json} (sample_size 1024: tiles of 128 latents; scaling 0.13025). */
    public static ModelConfig sdxlVaeConfig() {
        Map<String, Object> c = new HashMap<>();
        c.put("block_out_channels", List.of(128, 256, 512, 512));
        c.put("layers_per_block", 2);
        c.put("latent_channels", 4);
        c.put("norm_num_groups", 32);
        c.put("sample_size", 1024);
        c.put("scaling_factor", 0.13025);
        c.put("force_upcast", true);
        return new ModelConfig("SDXL base 1.0 vae config (built in)", c);
    }

    /** SDXL base 1.0's {@code text_encoder/config.json}: CLIP ViT-L/14 (768 wide, 12 layers, quick_gelu). */
    public static CLIPTextConfig sdxlTextEncoderConfig() {
        return new CLIPTextConfig(768, 12, 12, 3072, "quick_gelu", 1e-5f, 77, 49408, 2);
    }

    /**
     * SDXL base 1.0's {@code text_encoder_2/config.json}: OpenCLIP ViT-bigG/14 as HF
     * {@code CLIPTextModelWithProjection} (1280 wide, 32 layers, 20 heads, 5120 MLP, gelu, projection 1280).
     */
    public static CLIPTextConfig sdxlTextEncoder2Config() {
        return new CLIPTextConfig(1280, 32, 20, 5120, "gelu", 1e-5f, 77, 49408, 2);
    }

    /** {@code projection_dim} of SDXL's second text encoder. */
    public static final int SDXL_PROJECTION_DIM = 1280;

    /**
     * The shape of an HF CLIP text-tower weight of {@code config} (keys {@code text_model.*}, and
     * {@code text_projection.weight [projectionDim, hidden]}), for random weights.
     */
    public static int[] clipShape(CLIPTextConfig config, int projectionDim, String key) {
        int d = config.hiddenSize();
        int m = config.intermediateSize();
        if (key.equals("text_projection.weight")) {
            return new int[] {projectionDim, d};
        }
        if (key.endsWith("token_embedding.weight")) {
            return new int[] {config.vocabSize(), d};
        }
        if (key.endsWith("position_embedding.weight")) {
            return new int[] {config.maxPositionEmbeddings(), d};
        }
        if (key.endsWith("fc1.weight")) {
            return new int[] {m, d};
        }
        if (key.endsWith("fc1.bias")) {
            return new int[] {m};
        }
        if (key.endsWith("fc2.weight")) {
            return new int[] {d, m};
        }
        if (key.endsWith("proj.weight")) {
            return new int[] {d, d};
        }
        return new int[] {d};
    }

    /**
     * Weights of the requested shapes that are all zero and cost no memory per weight (views of one shared zero F16
     * block of {@code maxElements}), for counting a model's parameters without making them; {@link #parameterCount}
     * sums what was asked for.
     */
    public static StateDict shapesOnly(Arena arena, long maxElements) {
        MemorySegment zeros = arena.allocate(2 * maxElements, 64);
        return StateDict.madeOnDemand("zero weights (shapes only)", (k, dims) -> {
            Shape s = Shape.of(dims);
            if (s.numel() > maxElements) {
                throw new IllegalArgumentException("shapesOnly: " + k + " " + s + " is larger than " + maxElements
                        + " elements");
            }
            return Tensor.wrap(zeros.asSlice(0, 2 * s.numel()), DType.F16, s);
        });
    }

    /** The number of elements of every weight {@code weights} handed out so far. */
    public static long parameterCount(StateDict weights) {
        long n = 0;
        for (String k : weights.keys()) {
            n += weights.find(k).shape().numel();
        }
        return n;
    }

    /** Random weights of the requested shapes; F16 ones live in {@code arena} (off the heap). */
    public static StateDict randomWeights(DType dtype, Arena arena, long seed) {
        return StateDict.madeOnDemand("random weights",
                (k, dims) -> make(k, Shape.of(dims), dtype, arena, seed ^ k.hashCode()));
    }

    private static Tensor make(String key, Shape shape, DType dtype, Arena arena, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = Math.toIntExact(shape.numel());
        boolean norm = key.contains("norm");
        boolean bias = key.endsWith(".bias");
        double fanIn = shape.rank() >= 2 ? shape.numel() / shape.dim(0) : 1;
        double std = bias ? 0.02 : 1 / Math.sqrt(fanIn);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = norm && !bias ? (float) (1 + 0.05 * rnd.nextGaussian()) : (float) (std * rnd.nextGaussian());
        }
        if (dtype == DType.F32) {
            return Tensor.of(v, shape.dims());
        }
        return half(v, dtype, arena, shape);
    }

    /**
     * {@code v} rounded to F16 or BF16 in a 64-byte-aligned little-endian segment of {@code arena}, as weights mapped
     * from a checkpoint are held.
     */
    static Tensor half(float[] v, DType dtype, Arena arena, Shape shape) {
        MemorySegment seg = arena.allocate(2L * v.length, 64);
        ValueLayout.OfShort le = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < v.length; i++) {
            seg.set(le, 2L * i, dtype == DType.F16 ? HalfFloats.floatToF16(v[i]) : HalfFloats.floatToBf16(v[i]));
        }
        return Tensor.wrap(seg, dtype, shape);
    }

    /** The shape of a CLIP ViT-L/14 text-tower weight (HF key names), for random weights. */
    public static int[] clipL14Shape(String key) {
        int d = 768;
        if (key.endsWith("token_embedding.weight")) {
            return new int[] {49408, d};
        }
        if (key.endsWith("position_embedding.weight")) {
            return new int[] {77, d};
        }
        if (key.endsWith("fc1.weight")) {
            return new int[] {4 * d, d};
        }
        if (key.endsWith("fc1.bias")) {
            return new int[] {4 * d};
        }
        if (key.endsWith("fc2.weight")) {
            return new int[] {d, 4 * d};
        }
        if (key.endsWith("proj.weight")) {
            return new int[] {d, d};
        }
        return new int[] {d};
    }

    /**
     * Writes the real SD 1.5 model with random F16 weights as a diffusers folder (about 2.1 GB): {@code unet},
     * {@code vae}, {@code text_encoder} (CLIP ViT-L/14 size), a PNDM scheduler and the demo model's small tokenizer
     * (copied from {@code tokenizerDir}; its ids index the full-size embedding table). The weights are made by
     * building each model over {@link #randomWeights}, so the files hold exactly the keys and shapes the models read.
     */
    public static void writeSd15Folder(Path dir, Path tokenizerDir) throws IOException {
        CpuBackend be = new CpuBackend(new dev.diffusion4j.tensor.ComputePool(1));
        Map<String, Object> clip = new HashMap<>();
        clip.put("architectures", List.of("CLIPTextModel"));
        clip.put("hidden_size", 768);
        clip.put("intermediate_size", 3072);
        clip.put("num_attention_heads", 12);
        clip.put("num_hidden_layers", 12);
        clip.put("max_position_embeddings", 77);
        clip.put("vocab_size", 49408);
        clip.put("hidden_act", "quick_gelu");
        clip.put("layer_norm_eps", 1e-5);
        clip.put("projection_dim", 768);
        // the demo tokenizer's special ids
        clip.put("bos_token_id", 605);
        clip.put("eos_token_id", 606);
        clip.put("pad_token_id", 606);
        Map<String, Object> scheduler = new HashMap<>();
        scheduler.put("_class_name", "PNDMScheduler");
        scheduler.put("beta_start", 0.00085);
        scheduler.put("beta_end", 0.012);
        scheduler.put("beta_schedule", "scaled_linear");
        scheduler.put("num_train_timesteps", 1000);
        scheduler.put("set_alpha_to_one", false);
        scheduler.put("skip_prk_steps", true);
        scheduler.put("steps_offset", 1);
        scheduler.put("clip_sample", false);
        scheduler.put("prediction_type", "epsilon");
        Map<String, Object> index = new HashMap<>();
        index.put("_class_name", "StableDiffusionPipeline");
        index.put("scheduler", List.of("diffusers", "PNDMScheduler"));
        index.put("text_encoder", List.of("transformers", "CLIPTextModel"));
        index.put("tokenizer", List.of("transformers", "CLIPTokenizer"));
        index.put("unet", List.of("diffusers", "UNet2DConditionModel"));
        index.put("vae", List.of("diffusers", "AutoencoderKL"));
        Files.createDirectories(dir);
        writeJson(dir.resolve("model_index.json"), index);
        writeJson(dir.resolve("scheduler/scheduler_config.json"), scheduler);
        Files.createDirectories(dir.resolve("tokenizer"));
        try (var files = Files.list(tokenizerDir)) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve("tokenizer").resolve(f.getFileName().toString()),
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
        // the full-size text encoder reads 77 tokens, as SD 1.5's
        Path tokenizerConfig = dir.resolve("tokenizer/tokenizer_config.json");
        Map<String, Object> tc = new HashMap<>(com.fasterxml.jackson.jr.ob.JSON.std.mapFrom(Files.readString(tokenizerConfig)));
        tc.put("model_max_length", 77);
        writeJson(tokenizerConfig, tc);
        // one component at a time, so at most one model's weights are in memory
        try (Arena arena = Arena.ofConfined()) {
            StateDict w = randomWeights(DType.F16, arena, 1);
            new UNet2DConditionModel(unetConfig(), w, be);
            writeComponent(dir.resolve("unet"), "diffusion_pytorch_model.safetensors", unetConfig(), w);
        }
        try (Arena arena = Arena.ofConfined()) {
            StateDict w = randomWeights(DType.F16, arena, 2);
            new AutoencoderKL(vaeConfig(), w, be);
            writeComponent(dir.resolve("vae"), "diffusion_pytorch_model.safetensors", vaeConfig(), w);
        }
        try (Arena arena = Arena.ofConfined()) {
            StateDict w = randomWeights(DType.F16, arena, 3);
            ModelConfig cfg = new ModelConfig("SD 1.5 text_encoder config (built in)", clip);
            CLIPTextModel.of(CLIPTextConfig.fromMap(clip), k -> w.get(k, clipL14Shape(k)), CLIPTextModel.DIFFUSERS_PREFIX, be);
            writeComponent(dir.resolve("text_encoder"), "model.safetensors", cfg, w);
        }
        be.pool().close();
    }

    private static void writeComponent(Path dir, String file, ModelConfig config, StateDict weights) throws IOException {
        Files.createDirectories(dir);
        writeJson(dir.resolve("config.json"), config.asMap());
        SafeTensorsWriter writer = new SafeTensorsWriter();
        for (String key : new java.util.TreeSet<>(weights.keys())) {
            writer.add(key, weights.find(key));
        }
        writer.write(dir.resolve(file));
    }

    private static void writeJson(Path file, Map<String, Object> values) throws IOException {
        Files.createDirectories(file.getParent());
        Files.writeString(file, com.fasterxml.jackson.jr.ob.JSON.std.with(
                com.fasterxml.jackson.jr.ob.JSON.Feature.PRETTY_PRINT_OUTPUT).asString(values));
    }

    /** Standard normal values of the given shape. */
    public static Tensor randn(long seed, int... dims) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] v = new float[Math.toIntExact(Shape.of(dims).numel())];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        return Tensor.of(v, dims);
    }

    /**
     * The U-Net input of a guided step: standard normal latents {@code [1, 4, side, side]} twice, as the pipelines
     * build it (unconditional and conditional halves of one batch of 2).
     */
    public static Tensor guidedLatents(long seed, int side) {
        return GuidanceHalves.repeat(randn(seed, 1, 4, side, side));
    }

    /** Heap bytes allocated so far by all live threads (the compute pool's workers included). */
    public static long allocatedBytes() {
        return ((com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean())
                .getTotalThreadAllocatedBytes();
    }
}
