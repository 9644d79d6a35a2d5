package dev.diffusion4j.samplers;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The sampler and schedule names people know, chosen separately (as A1111 and stable-diffusion.cpp do), mapped
 * to diffusers scheduler classes and config overrides.
 *
 * <table>
 * <caption>Samplers</caption>
 * <tr><th>name</th><th>diffusers class</th><th>A1111</th><th>stable-diffusion.cpp</th></tr>
 * <tr><td>ddim</td><td>DDIMScheduler</td><td>DDIM</td><td>ddim_trailing (with trailing spacing)</td></tr>
 * <tr><td>pndm</td><td>PNDMScheduler (skip_prk_steps)</td><td>PLMS</td><td>–</td></tr>
 * <tr><td>lms</td><td>LMSDiscreteScheduler</td><td>LMS</td><td>–</td></tr>
 * <tr><td>euler</td><td>EulerDiscreteScheduler</td><td>Euler</td><td>euler</td></tr>
 * <tr><td>euler_a</td><td>EulerAncestralDiscreteScheduler</td><td>Euler a</td><td>euler_a</td></tr>
 * <tr><td>heun</td><td>HeunDiscreteScheduler</td><td>Heun</td><td>heun</td></tr>
 * <tr><td>dpm2</td><td>KDPM2DiscreteScheduler</td><td>DPM2</td><td>dpm2</td></tr>
 * <tr><td>dpm++2m</td><td>DPMSolverMultistepScheduler</td><td>DPM++ 2M</td><td>dpm++2m</td></tr>
 * <tr><td>dpm++2s</td><td>DPMSolverSinglestepScheduler</td><td>DPM++ 2S (not "2S a": not ancestral)</td><td>– (dpm++2s_a is ancestral)</td></tr>
 * <tr><td>unipc</td><td>UniPCMultistepScheduler</td><td>UniPC</td><td>–</td></tr>
 * <tr><td>ddpm</td><td>DDPMScheduler</td><td>–</td><td>–</td></tr>
 * <tr><td>lcm</td><td>LCMScheduler</td><td>LCM</td><td>lcm</td></tr>
 * <tr><td>deis</td><td>DEISMultistepScheduler</td><td>DEIS</td><td>–</td></tr>
 * </table>
 *
 * <p>Schedules: {@code default} (the model's scheduler config, else the class defaults), {@code karras}
 * ({@code use_karras_sigmas: true}; A1111's "Karras" schedule type, sd.cpp's {@code --schedule karras}).
 * Spacing ({@code leading}, {@code linspace}, {@code trailing}) overrides {@code timestep_spacing}.
 *
 * <p>As diffusers' {@code from_config}, the model's scheduler config is carried into the chosen class (its
 * unknown keys ignored), and, as {@code StableDiffusionPipeline} does, {@code steps_offset} is forced to 1 and
 * {@code clip_sample} to false.
 */
public final class SamplerCatalog {
    private static final Map<String, String> CLASSES = new LinkedHashMap<>();
    private static final List<String> KARRAS_CAPABLE = List.of("LMSDiscreteScheduler", "EulerDiscreteScheduler",
            "HeunDiscreteScheduler", "KDPM2DiscreteScheduler", "DPMSolverMultistepScheduler",
            "DPMSolverSinglestepScheduler", "UniPCMultistepScheduler", "DEISMultistepScheduler");

    static {
        CLASSES.put("ddim", "DDIMScheduler");
        CLASSES.put("pndm", "PNDMScheduler");
        CLASSES.put("lms", "LMSDiscreteScheduler");
        CLASSES.put("euler", "EulerDiscreteScheduler");
        CLASSES.put("euler_a", "EulerAncestralDiscreteScheduler");
        CLASSES.put("heun", "HeunDiscreteScheduler");
        CLASSES.put("dpm2", "KDPM2DiscreteScheduler");
        CLASSES.put("dpm++2m", "DPMSolverMultistepScheduler");
        CLASSES.put("dpm++2s", "DPMSolverSinglestepScheduler");
        CLASSES.put("unipc", "UniPCMultistepScheduler");
        CLASSES.put("ddpm", "DDPMScheduler");
        CLASSES.put("lcm", "LCMScheduler");
        CLASSES.put("deis", "DEISMultistepScheduler");
    }

    private SamplerCatalog() {
    }

    /** The sampler names, in the table's order. */
    public static List<String> samplers() {
        return List.copyOf(CLASSES.keySet());
    }

    /** The schedule names. */
    public static List<String> schedules() {
        return List.of("default", "karras");
    }

    /** The diffusers class of sampler {@code name}. */
    public static String diffusersClass(String name) {
        String cls = CLASSES.get(name.toLowerCase(Locale.ROOT));
        if (cls == null) {
            throw new IllegalArgumentException("unknown sampler '" + name + "' (known: " + String.join(", ", CLASSES.keySet()) + ")");
        }
        return cls;
    }

    /**
     * A scheduler for {@code sampler} (null: the class the model's config names) with {@code schedule} (null or
     * "default") and {@code spacing} (null: the config's or class default), starting from the model's
     * {@code modelConfig} (its {@code _class_name} may be absent).
     */
    public static Scheduler create(String sampler, String schedule, String spacing, SchedulerConfig modelConfig) {
        String cls;
        if (sampler == null) {
            Object named = modelConfig.asMap().get("_class_name");
            if (!(named instanceof String s)) {
                throw new IllegalArgumentException("no sampler given and the scheduler config names no _class_name");
            }
            cls = s;
        } else {
            cls = diffusersClass(sampler);
        }
        SchedulerConfig.Builder b = modelConfig.toBuilder().set("steps_offset", 1).set("clip_sample", false);
        if (cls.equals("PNDMScheduler")) {
            b.set("skip_prk_steps", true);
        }
        String sched = schedule == null ? "default" : schedule.toLowerCase(Locale.ROOT);
        switch (sched) {
            case "default" -> { }
            case "karras" -> {
                if (!KARRAS_CAPABLE.contains(cls)) {
                    throw new IllegalArgumentException("schedule 'karras' is not available for sampler "
                            + (sampler == null ? cls : "'" + sampler + "'") + " (" + cls + ")");
                }
                b.set("use_karras_sigmas", true);
            }
            default -> throw new IllegalArgumentException("unknown schedule '" + schedule + "' (known: " + schedules() + ")");
        }
        if (spacing != null) {
            if (!List.of("leading", "linspace", "trailing").contains(spacing)) {
                throw new IllegalArgumentException("unknown timestep spacing '" + spacing + "' (leading, linspace, trailing)");
            }
            b.set("timestep_spacing", spacing);
        }
        return Schedulers.create(cls, b.build());
    }
}
