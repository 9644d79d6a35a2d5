package dev.diffusion4j.core;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Generation parameters as text in A1111's PNG {@code parameters} format, which other tools read:
 * <pre>
 * a photo of a cat
 * Negative prompt: blurry
 * Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: v1-5, ...
 * </pre>
 * The sampler keeps A1111's label where there is one; diffusion4j's own name is in {@code Sampler name}.
 */
public final class GenerationParameters {
    private static final Map<String, String> A1111 = Map.ofEntries(
            Map.entry("ddim", "DDIM"), Map.entry("pndm", "PLMS"), Map.entry("lms", "LMS"), Map.entry("euler", "Euler"),
            Map.entry("euler_a", "Euler a"), Map.entry("heun", "Heun"), Map.entry("dpm2", "DPM2"),
            Map.entry("dpm++2m", "DPM++ 2M"), Map.entry("dpm++2s", "DPM++ 2S"), Map.entry("unipc", "UniPC"),
            Map.entry("ddpm", "DDPM"), Map.entry("lcm", "LCM"), Map.entry("deis", "DEIS"));

    /** The parsed text: prompt, negative prompt and the {@code key: value} fields in order. */
    public record Parsed(String prompt, String negativePrompt, Map<String, String> fields) {
    }

    private GenerationParameters() {
    }

    static String format(GenerationRequest r, String model, int width, int height, double strength, boolean usesInit) {
        return format(r, model, width, height, strength, usesInit, java.util.List.of());
    }

    /** As above, with the merged LoRAs as {@code name:scale} (field {@code Lora}). */
    static String format(GenerationRequest r, String model, int width, int height, double strength, boolean usesInit,
            java.util.List<String> loras) {
        StringBuilder b = new StringBuilder(r.prompt());
        if (!r.negativePrompt().isEmpty()) {
            b.append("\nNegative prompt: ").append(r.negativePrompt());
        }
        Map<String, String> f = new LinkedHashMap<>();
        f.put("Steps", Integer.toString(r.steps()));
        if (r.customSampler() != null) {
            f.put("Sampler", "custom " + r.customSampler().name());
        } else if (r.sampler() != null) {
            f.put("Sampler", A1111.getOrDefault(r.sampler(), r.sampler()));
            f.put("Sampler name", r.sampler());
        } else {
            f.put("Sampler", "model default");
        }
        if (r.schedule() != null && !r.schedule().equals("default")) {
            f.put("Schedule type", r.schedule().substring(0, 1).toUpperCase(Locale.ROOT) + r.schedule().substring(1));
        }
        if (r.spacing() != null) {
            f.put("Timestep spacing", r.spacing());
        }
        f.put("CFG scale", trim(r.guidanceScale()));
        if (r.guidanceRescale() > 0) {
            f.put("CFG Rescale phi", trim(r.guidanceRescale())); // the key of A1111's CFG-rescale extension
        }
        f.put("Seed", Long.toString(r.seed()));
        f.put("Size", width + "x" + height);
        f.put("Model", model);
        if (!loras.isEmpty()) {
            f.put("Lora", String.join(", ", loras));
        }
        if (r.clipSkip() != 1) {
            f.put("Clip skip", Integer.toString(r.clipSkip()));
        }
        // SDXL micro-conditioning, only when set (written as the sd generate options take them).
        if (r.originalSize() != null) {
            f.put("Original size", r.originalSize()[0] + "x" + r.originalSize()[1]);
        }
        if (r.cropTopLeft() != null) {
            f.put("Crop top-left", r.cropTopLeft()[1] + "," + r.cropTopLeft()[0]);
        }
        if (r.targetSize() != null) {
            f.put("Target size", r.targetSize()[0] + "x" + r.targetSize()[1]);
        }
        if (usesInit) {
            f.put("Denoising strength", trim(strength));
        }
        if (r.mask() != null && r.maskBlur() > 0) {
            f.put("Mask blur", Integer.toString(r.maskBlur()));
        }
        if (!Double.isNaN(r.hiresScale())) {
            // A1111's hires fix fields; Size stays the first pass's.
            f.put("Denoising strength", trim(r.hiresStrength()));
            f.put("Hires upscale", trim(r.hiresScale()));
            if (r.hiresSteps() != null) {
                f.put("Hires steps", Integer.toString(r.hiresSteps()));
            }
            f.put("Hires upscaler", r.hiresUpscaler() == GenerationRequest.HiresUpscaler.LATENT ? "Latent" : "Image (bicubic)");
        }
        for (int i = 0; i < r.controlNets().size(); i++) {
            GenerationRequest.ControlNet c = r.controlNets().get(i);
            f.put("ControlNet " + i, "Weight: " + trim(c.scale()) + ", Guidance Start: " + trim(c.start())
                    + ", Guidance End: " + trim(c.end()) + (r.guessMode() ? ", Guess Mode: True" : ""));
        }
        if (r.vaeDecoder() == GenerationRequest.VaeDecoder.TAESD) {
            f.put("VAE", "TAESD");
        }
        f.put("RNG", r.rng() == GenerationRequest.Rng.TORCH ? "torch" : "fast");
        if (r.batchSize() > 1) {
            f.put("Batch size", Integer.toString(r.batchSize()));
        }
        f.put("Version", "diffusion4j");
        b.append('\n');
        boolean first = true;
        for (Map.Entry<String, String> e : f.entrySet()) {
            b.append(first ? "" : ", ").append(e.getKey()).append(": ").append(quote(e.getValue()));
            first = false;
        }
        return b.toString();
    }

    /** A scale as A1111 writes it (0.8, 1). */
    static String trimScale(double v) {
        return trim(v);
    }

    private static String trim(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    private static String quote(String v) {
        return v.contains(",") || v.contains(":") || v.contains("\"") ? "\"" + v.replace("\\", "\\\\").replace("\"", "\\\"") + "\"" : v;
    }

    /** Parses A1111 {@code parameters} text (the last line holds the fields). */
    public static Parsed parse(String text) {
        String[] lines = text.strip().split("\n", -1);
        int last = lines.length - 1;
        Map<String, String> fields = new LinkedHashMap<>();
        if (last >= 0 && lines[last].startsWith("Steps: ")) {
            parseFields(lines[last], fields);
        } else {
            last = lines.length;
        }
        StringBuilder prompt = new StringBuilder();
        StringBuilder negative = null;
        for (int i = 0; i < last; i++) {
            String line = lines[i];
            if (negative == null && line.startsWith("Negative prompt: ")) {
                negative = new StringBuilder(line.substring("Negative prompt: ".length()));
            } else if (negative != null) {
                negative.append('\n').append(line);
            } else {
                prompt.append(prompt.isEmpty() && i == 0 ? "" : "\n").append(line);
            }
        }
        return new Parsed(prompt.toString(), negative == null ? "" : negative.toString(), fields);
    }

    private static void parseFields(String line, Map<String, String> out) {
        int i = 0;
        int n = line.length();
        while (i < n) {
            int colon = line.indexOf(": ", i);
            if (colon < 0) {
                break;
            }
            String key = line.substring(i, colon).strip();
            int j = colon + 2;
            StringBuilder value = new StringBuilder();
            if (j < n && line.charAt(j) == '"') {
                j++;
                while (j < n && line.charAt(j) != '"') {
                    if (line.charAt(j) == '\\' && j + 1 < n) {
                        j++;
                    }
                    value.append(line.charAt(j++));
                }
                j++;
                int comma = line.indexOf(", ", j);
                i = comma < 0 ? n : comma + 2;
            } else {
                int comma = line.indexOf(", ", j);
                int end = comma < 0 ? n : comma;
                value.append(line, j, end);
                i = comma < 0 ? n : comma + 2;
            }
            out.put(key, value.toString());
        }
    }
}
