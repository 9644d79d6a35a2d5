package dev.diffusion4j.weights;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A LoRA file (safetensors) read into memory, in either of the common layouts:
 * <ul>
 * <li>kohya / A1111: {@code lora_unet_<module>.{lora_down.weight, lora_up.weight, alpha}} and
 * {@code lora_te_<module>...} (SDXL: {@code lora_te1_} for {@code text_encoder}, {@code lora_te2_} for
 * {@code text_encoder_2}), where {@code <module>} is the diffusers module path with {@code .} replaced by
 * {@code _} (resolved against the model's own module names, since {@code _} is ambiguous), including LoCon conv
 * modules (down {@code [r, in, kh, kw]}, up {@code [out, r, 1, 1]}); U-Net modules may also carry the original
 * (LDM/SGM) names, {@code lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q},
 * {@code lora_unet_middle_block_1_proj_in}, {@code lora_unet_output_blocks_2_2_conv},
 * {@code lora_unet_input_blocks_1_0_in_layers_2}, which are mapped with the single-file rules of {@link Sd1KeyMap}
 * (input block {@code k >= 1} is level {@code (k-1)/(L+1)}, layer {@code (k-1)%(L+1)}; output block {@code k} is
 * level {@code k/(L+1)}, layer {@code k%(L+1)}; {@code L} = the model's {@code layers_per_block});</li>
 * <li>diffusers / PEFT: {@code [unet.|text_encoder.|text_encoder_2.]<module>.lora_A.weight / lora_B.weight} (PEFT),
 * {@code <module>.lora.down.weight / lora.up.weight} and the attention-processor form
 * {@code ...attn1.processor.to_q_lora.down.weight}, the old text-encoder form
 * {@code ...q_proj.lora_linear_layer.down.weight}, each with an optional {@code <module>.alpha}.</li>
 * </ul>
 *
 * <p>Merging ({@link #delta}) follows diffusers' {@code fuse_lora} and A1111:
 * {@code W' = W + scale · (alpha / rank) · (up.flatten(1) @ down.flatten(1)).reshape(W.shape)}, rank =
 * {@code down.shape[0]}, alpha = the module's {@code alpha} or rank when absent (factor 1), all in float32.
 * {@link #resolve} maps modules onto a model's weight keys; modules that match nothing (unknown name, wrong shape,
 * half a pair, an unsupported LyCORIS type) are returned with the reason, never dropped silently.
 */
public final class Lora {
    /** The key layout of the file. */
    public enum Format {
        /** kohya-ss / A1111 ({@code lora_unet_*}, {@code lora_down}/{@code lora_up}/{@code alpha}). */
        KOHYA,
        /** diffusers / PEFT ({@code lora_A}/{@code lora_B}, {@code lora.down}/{@code lora.up}). */
        DIFFUSERS
    }

    /**
     * One low-rank module: {@code down [r, in(, kh, kw)]}, {@code up [out, r(, 1, 1)]}, alpha (NaN when absent).
     *
     * @param name the module name as in the file (without the suffix)
     */
    public record Module(String name, float[] down, long[] downShape, float[] up, long[] upShape, float alpha) {
        /** The rank ({@code down.shape[0]}). */
        public int rank() {
            return (int) downShape[0];
        }

        /** {@code alpha / rank}, or 1 when the file has no alpha for this module. */
        public float alphaOverRank() {
            return Float.isNaN(alpha) ? 1f : alpha / rank();
        }
    }

    /**
     * A module resolved to the weight it changes: {@code component} ({@code unet}, {@code text_encoder},
     * {@code text_encoder_2}) and key.
     */
    public record Target(String component, String weightKey, Module module) {
    }

    /** The result of {@link #resolve}: modules matched to weights, and every file key that matched nothing. */
    public record Resolution(List<Target> targets, Map<String, String> unmatched) {
    }

    private final Path path;
    private final Format format;
    private final Map<String, Module> modules;
    private final Map<String, String> malformed;

    private Lora(Path path, Format format, Map<String, Module> modules, Map<String, String> malformed) {
        this.path = path;
        this.format = format;
        this.modules = modules;
        this.malformed = malformed;
    }

    private static final String[][] SUFFIXES = {
        {".lora_down.weight", "down"}, {".lora_up.weight", "up"},
        {".lora_A.weight", "down"}, {".lora_B.weight", "up"},
        {".lora.down.weight", "down"}, {".lora.up.weight", "up"},
        {".lora_linear_layer.down.weight", "down"}, {".lora_linear_layer.up.weight", "up"},
        {"_lora.down.weight", "down"}, {"_lora.up.weight", "up"},
        {".alpha", "alpha"}};

    /**
     * Reads a LoRA safetensors file (all tensors are converted to float32 in memory; the file is closed again).
     *
     * @throws IllegalArgumentException if no key has a LoRA suffix (not a LoRA file)
     */
    public static Lora read(Path path) throws IOException {
        try (SafeTensors st = SafeTensors.open(path)) {
            Map<String, float[]> down = new LinkedHashMap<>();
            Map<String, float[]> up = new HashMap<>();
            Map<String, long[]> downShape = new HashMap<>();
            Map<String, long[]> upShape = new HashMap<>();
            Map<String, Float> alpha = new HashMap<>();
            Map<String, String> malformed = new LinkedHashMap<>();
            Map<String, List<String>> keysOf = new HashMap<>();
            boolean kohya = false;
            for (SafeTensors.Entry e : st.entries().values()) {
                String k = e.name();
                String module = null;
                String part = null;
                for (String[] s : SUFFIXES) {
                    if (k.endsWith(s[0])) {
                        module = k.substring(0, k.length() - s[0].length());
                        part = s[1];
                        break;
                    }
                }
                if (module == null) {
                    malformed.put(k, k.contains("hada_") || k.contains("lokr_") || k.contains(".oft_")
                            || k.contains("dora_scale") ? "unsupported LyCORIS/DoRA tensor (only plain LoRA/LoCon merge)"
                            : "not a LoRA key (no lora_down/lora_up/lora_A/lora_B/alpha suffix)");
                    continue;
                }
                kohya |= k.startsWith("lora_unet_") || k.startsWith("lora_te");
                keysOf.computeIfAbsent(module, m -> new ArrayList<>()).add(k);
                StoredTensor t = st.view(k);
                switch (part) {
                    case "down" -> {
                        down.put(module, t.toFloatArray());
                        downShape.put(module, t.shape());
                    }
                    case "up" -> {
                        up.put(module, t.toFloatArray());
                        upShape.put(module, t.shape());
                    }
                    default -> {
                        if (t.numel() != 1) {
                            malformed.put(k, "alpha must be a scalar, shape " + Arrays.toString(t.shape()));
                        } else {
                            alpha.put(module, t.getFloat(0));
                        }
                    }
                }
            }
            Map<String, Module> modules = new LinkedHashMap<>();
            Set<String> names = new java.util.LinkedHashSet<>(keysOf.keySet());
            for (String m : names) {
                if (!down.containsKey(m) || !up.containsKey(m)) {
                    for (String k : keysOf.get(m)) {
                        malformed.put(k, "module '" + m + "' lacks its " + (down.containsKey(m) ? "up" : "down")
                                + " weight");
                    }
                    continue;
                }
                long[] ds = downShape.get(m);
                long[] us = upShape.get(m);
                if (ds.length < 2 || us.length < 2 || us[1] != ds[0]) {
                    for (String k : keysOf.get(m)) {
                        malformed.put(k, "module '" + m + "': down " + Arrays.toString(ds) + " and up "
                                + Arrays.toString(us) + " do not multiply (up[1] must equal down[0] = rank)");
                    }
                    continue;
                }
                modules.put(m, new Module(m, down.get(m), ds, up.get(m), us, alpha.getOrDefault(m, Float.NaN)));
            }
            if (modules.isEmpty() && malformed.isEmpty()) {
                throw new IllegalArgumentException(path + ": no tensors, not a LoRA file");
            }
            if (modules.isEmpty()) {
                throw new IllegalArgumentException(path + ": no LoRA module found (first key: "
                        + malformed.keySet().iterator().next() + ": " + malformed.values().iterator().next() + ")");
            }
            return new Lora(path, kohya ? Format.KOHYA : Format.DIFFUSERS, Collections.unmodifiableMap(modules),
                    Collections.unmodifiableMap(malformed));
        }
    }

    /** The file it was read from. */
    public Path path() {
        return path;
    }

    /** The detected layout. */
    public Format format() {
        return format;
    }

    /** Complete modules by file name. */
    public Map<String, Module> modules() {
        return modules;
    }

    /**
     * Maps every module onto the weight keys of the model's components ({@code unet}, {@code text_encoder} and, for
     * SDXL, {@code text_encoder_2}; each a set of diffusers keys such as
     * {@code down_blocks.0.attentions.0.proj_in.weight} / {@code text_model.encoder.layers.0.mlp.fc1.weight}) with
     * their shapes. A module whose name resolves but whose {@code up·down} product does not have the weight's shape
     * is unmatched, with both shapes in the reason; so is a {@code lora_te2_}/{@code text_encoder_2.} module for a
     * model without a second text encoder.
     */
    public Resolution resolve(Map<String, Map<String, long[]>> componentShapes) {
        // kohya names: the module path with '.' -> '_', per component.
        Map<String, Map<String, String>> underscored = new HashMap<>();
        componentShapes.forEach((c, keys) -> {
            Map<String, String> m = new HashMap<>();
            for (String k : keys.keySet()) {
                if (k.endsWith(".weight")) {
                    String module = k.substring(0, k.length() - ".weight".length());
                    m.put(module.replace('.', '_'), module);
                }
            }
            underscored.put(c, m);
        });
        Sd1KeyMap sgm = componentShapes.containsKey("unet") ? sgmRules(componentShapes.get("unet")) : null;
        List<Target> targets = new ArrayList<>();
        Map<String, String> unmatched = new LinkedHashMap<>(malformed);
        for (Module mod : modules.values()) {
            String[] found = locate(mod.name(), componentShapes, underscored, sgm);
            if (found == null) {
                unmatched.put(mod.name(), "matches no module of the model");
                continue;
            }
            long[] w = componentShapes.get(found[0]).get(found[1]);
            long out = mod.upShape()[0];
            long in = 1;
            for (int i = 1; i < mod.downShape().length; i++) {
                in *= mod.downShape()[i];
            }
            long wIn = 1;
            for (int i = 1; i < w.length; i++) {
                wIn *= w[i];
            }
            if (w[0] != out || wIn != in) {
                unmatched.put(mod.name(), "up " + Arrays.toString(mod.upShape()) + " · down "
                        + Arrays.toString(mod.downShape()) + " does not fit " + found[0] + "/" + found[1] + " "
                        + Arrays.toString(w));
                continue;
            }
            targets.add(new Target(found[0], found[1], mod));
        }
        return new Resolution(List.copyOf(targets), Collections.unmodifiableMap(unmatched));
    }

    /** {component, weight key} of a module name, or null. */
    private String[] locate(String name, Map<String, Map<String, long[]>> shapes, Map<String, Map<String, String>> underscored,
                            Sd1KeyMap sgm) {
        if (name.startsWith("lora_unet_")) {
            String rest = name.substring("lora_unet_".length());
            String[] found = kohya("unet", rest, underscored);
            if (found == null && sgm != null) {
                String diffusers = sgmToDiffusers(rest, sgm);
                found = diffusers == null ? null : kohya("unet", diffusers, underscored);
            }
            return found;
        }
        if (name.startsWith("lora_te_")) {
            return kohya("text_encoder", name.substring("lora_te_".length()), underscored);
        }
        if (name.startsWith("lora_te1_")) {
            return kohya("text_encoder", name.substring("lora_te1_".length()), underscored);
        }
        if (name.startsWith("lora_te2_")) {
            return kohya("text_encoder_2", name.substring("lora_te2_".length()), underscored);
        }
        String n = name;
        if (n.startsWith("base_model.model.")) {
            n = n.substring("base_model.model.".length());
        }
        // The attention-processor form: "attn1.processor.to_q" is module "attn1.to_q"; "to_out" is "to_out.0".
        n = n.replace(".processor.", ".");
        List<String[]> tries = new ArrayList<>();
        if (n.startsWith("unet.")) {
            tries.add(new String[] {"unet", n.substring(5)});
        } else if (n.startsWith("text_encoder_2.")) {
            tries.add(new String[] {"text_encoder_2", n.substring("text_encoder_2.".length())});
        } else if (n.startsWith("text_encoder.")) {
            tries.add(new String[] {"text_encoder", n.substring("text_encoder.".length())});
        } else {
            tries.add(new String[] {"unet", n});
            tries.add(new String[] {"text_encoder", n});
        }
        for (String[] t : tries) {
            Map<String, long[]> keys = shapes.get(t[0]);
            if (keys == null) {
                continue;
            }
            for (String cand : new String[] {t[1] + ".weight", t[1] + ".0.weight"}) {
                if (keys.containsKey(cand)) {
                    return new String[] {t[0], cand};
                }
            }
        }
        return null;
    }

    /**
     * The single-file rules for a U-Net of these diffusers keys: {@code layers_per_block} is the number of resnets of
     * {@code down_blocks.0}. Null when the keys have no down blocks (no SGM names can be mapped).
     */
    private static Sd1KeyMap sgmRules(Map<String, long[]> unetKeys) {
        int layers = 0;
        while (unetKeys.containsKey("down_blocks.0.resnets." + layers + ".conv1.weight")) {
            layers++;
        }
        return layers == 0 ? null : new Sd1KeyMap(layers, 1);
    }

    private static final Pattern SGM_BLOCK = Pattern.compile("(input_blocks|output_blocks)_(\\d+)_(\\d+)(?:_(.+))?");
    private static final Pattern SGM_MIDDLE = Pattern.compile("middle_block_(\\d+)(?:_(.+))?");
    private static final Pattern SGM_TOP = Pattern.compile("(time_embed_\\d+|label_emb_0_\\d+|out_\\d+)");
    /** A resnet's LDM module names with {@code .} written {@code _}: the only sub-paths whose dots are needed. */
    private static final Map<String, String> SGM_RESNET = Map.of("in_layers_0", "in_layers.0", "in_layers_2",
            "in_layers.2", "emb_layers_1", "emb_layers.1", "out_layers_0", "out_layers.0", "out_layers_3", "out_layers.3");

    /**
     * An SGM/LDM U-Net module name with {@code _} for {@code .} ({@code input_blocks_4_1_transformer_blocks_0_attn1_to_q})
     * as the diffusers module name, again with {@code _} ({@code down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q}),
     * or null. The block numbers map as single-file keys do ({@link Sd1KeyMap}); what follows the block (a
     * transformer's inner path) is the same in both namings, so it stays as it is.
     */
    static String sgmToDiffusers(String name, Sd1KeyMap rules) {
        String dotted;
        Matcher m = SGM_BLOCK.matcher(name);
        Matcher mid = SGM_MIDDLE.matcher(name);
        if (m.matches()) {
            dotted = m.group(1) + "." + m.group(2) + "." + m.group(3) + (m.group(4) == null ? "" : "." + inner(m.group(4)));
        } else if (mid.matches()) {
            dotted = "middle_block." + mid.group(1) + (mid.group(2) == null ? "" : "." + inner(mid.group(2)));
        } else if (SGM_TOP.matcher(name).matches()) {
            int cut = name.lastIndexOf('_');
            // time_embed_0 -> time_embed.0, label_emb_0_2 -> label_emb.0.2, out_2 -> out.2
            dotted = name.substring(0, cut).replace("label_emb_0", "label_emb.0") + "." + name.substring(cut + 1);
        } else {
            return null;
        }
        return rules.map(Sd1KeyMap.UNET + dotted + ".weight")
                .map(t -> t.key().substring(0, t.key().length() - ".weight".length()).replace('.', '_'))
                .orElse(null);
    }

    private static String inner(String rest) {
        return SGM_RESNET.getOrDefault(rest, rest);
    }

    private static String[] kohya(String component, String rest, Map<String, Map<String, String>> underscored) {
        Map<String, String> m = underscored.get(component);
        String module = m == null ? null : m.get(rest);
        return module == null ? null : new String[] {component, module + ".weight"};
    }

    /**
     * The change this module makes to its weight at {@code scale}: {@code scale · (alpha/rank) · up @ down}, flat
     * in the weight's row-major order ({@code [out, in·kh·kw]}), float32 as diffusers computes it (up is scaled by
     * alpha/rank first, then multiplied, then by the scale).
     */
    public static float[] delta(Module m, float scale) {
        int out = (int) m.upShape()[0];
        int r = m.rank();
        int in = m.down().length / r;
        float f = m.alphaOverRank();
        float[] upScaled = new float[m.up().length];
        for (int i = 0; i < upScaled.length; i++) {
            upScaled[i] = m.up()[i] * f;
        }
        float[] d = new float[out * in];
        float[] down = m.down();
        for (int o = 0; o < out; o++) {
            int row = o * in;
            for (int k = 0; k < r; k++) {
                float u = upScaled[o * r + k];
                int drow = k * in;
                for (int i = 0; i < in; i++) {
                    d[row + i] += u * down[drow + i];
                }
            }
            for (int i = 0; i < in; i++) {
                d[row + i] *= scale;
            }
        }
        return d;
    }
}
