package dev.diffusion4j.samplers;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The sampler and schedule names people know, chosen separately (as A1111 and stable-diffusion.cpp do), mapped
 * to diffusers scheduler classes and config overrides. This is the one table of names: {@link Schedulers#byName}
 * (the fixtures' short names such as "dpmpp_2m_karras") is parsed into it. {@code docs/samplers.md} has the
 * same table with notes.
 *
 * <table>
 * <caption>Samplers</caption>
 * <tr><th>name</th><th>diffusers class (config overrides)</th><th>A1111</th><th>stable-diffusion.cpp</th>
 *     <th>k-diffusion sampler ({@code samplers.kdiffusion})</th></tr>
 * <tr><td>ddim</td><td>DDIMScheduler</td><td>DDIM</td><td>ddim_trailing (with trailing spacing)</td><td>–</td></tr>
 * <tr><td>pndm</td><td>PNDMScheduler (skip_prk_steps)</td><td>PLMS</td><td>–</td><td>–</td></tr>
 * <tr><td>lms</td><td>LMSDiscreteScheduler</td><td>LMS</td><td>–</td><td>–</td></tr>
 * <tr><td>euler</td><td>EulerDiscreteScheduler</td><td>Euler</td><td>euler</td><td>EulerSampler</td></tr>
 * <tr><td>euler_a</td><td>EulerAncestralDiscreteScheduler</td><td>Euler a</td><td>euler_a</td>
 *     <td>EulerAncestralSampler</td></tr>
 * <tr><td>heun</td><td>HeunDiscreteScheduler</td><td>Heun</td><td>heun</td><td>HeunSampler</td></tr>
 * <tr><td>dpm2</td><td>KDPM2DiscreteScheduler</td><td>DPM2</td><td>dpm2</td><td>–</td></tr>
 * <tr><td>dpm++2m</td><td>DPMSolverMultistepScheduler (algorithm_type dpmsolver++, solver_order 2)</td>
 *     <td>DPM++ 2M</td><td>dpm++2m</td><td>DpmPP2MSampler</td></tr>
 * <tr><td>dpm++2m_sde</td><td>DPMSolverMultistepScheduler (algorithm_type sde-dpmsolver++, solver_order 2)</td>
 *     <td>DPM++ 2M SDE</td><td>–</td><td>–</td></tr>
 * <tr><td>dpm++2s</td><td>DPMSolverSinglestepScheduler</td><td>DPM++ 2S (not "2S a": not ancestral)</td>
 *     <td>– (dpm++2s_a is ancestral)</td><td>DpmPP2SAncestralSampler(eta 0)</td></tr>
 * <tr><td>–</td><td>– (no diffusers class)</td><td>DPM++ 2S a</td><td>dpm++2s_a</td>
 *     <td>DpmPP2SAncestralSampler</td></tr>
 * <tr><td>unipc</td><td>UniPCMultistepScheduler</td><td>UniPC</td><td>–</td><td>–</td></tr>
 * <tr><td>ddpm</td><td>DDPMScheduler</td><td>–</td><td>–</td><td>–</td></tr>
 * <tr><td>lcm</td><td>LCMScheduler</td><td>LCM</td><td>lcm</td><td>–</td></tr>
 * <tr><td>deis</td><td>DEISMultistepScheduler</td><td>DEIS</td><td>–</td><td>–</td></tr>
 * </table>
 *
 * <p>Schedules: {@code default} (the model's scheduler config, else the class defaults); {@code karras}
 * ({@code use_karras_sigmas: true}; A1111's "Karras" schedule type, sd.cpp's {@code --schedule karras}):
 * {@code sigma_i = (max^(1/7) + i/(n-1) (min^(1/7) - max^(1/7)))^7}; {@code exponential} (A1111's
 * "Exponential", sd.cpp's {@code --schedule exponential}): {@code sigma_i = exp(log max + i/(n-1) (log min -
 * log max))}, i = 0..n-1, between the training schedule's smallest and largest sigma, timesteps by log-sigma
 * interpolation as for Karras. diffusers 0.27.2 has no exponential schedule: it is our extension, selected by
 * the config key {@code use_exponential_sigmas} (the name later diffusers versions gave the same formula).
 * Both are available for LMS, Euler, Heun, DPM2, DPM++ 2M/2M SDE/2S, UniPC and DEIS (the classes with
 * {@code use_karras_sigmas}). Spacing ({@code leading}, {@code linspace}, {@code trailing}) overrides
 * {@code timestep_spacing}.
 *
 * <p>As diffusers' {@code from_config}, the model's scheduler config is carried into the chosen class (its
 * unknown keys ignored), and, as {@code StableDiffusionPipeline} does, {@code steps_offset} is forced to 1 and
 * {@code clip_sample} to false.
 */
public final class SamplerCatalog {
    /** A sampler name's diffusers class and the config keys it sets. */
    private record Entry(String className, Map<String, Object> overrides) {
    }

    private static final Map<String, Entry> SAMPLERS = new LinkedHashMap<>();
    /** The fixtures' short names (Schedulers.byName) that differ from the sampler names. */
    private static final Map<String, String> ALIASES = Map.of("kdpm2", "dpm2", "dpmpp_2m", "dpm++2m",
            "dpmpp_2m_sde", "dpm++2m_sde", "dpm_singlestep", "dpm++2s");
    private static final List<String> RESPACEABLE = List.of("LMSDiscreteScheduler", "EulerDiscreteScheduler",
            "HeunDiscreteScheduler", "KDPM2DiscreteScheduler", "DPMSolverMultistepScheduler",
            "DPMSolverSinglestepScheduler", "UniPCMultistepScheduler", "DEISMultistepScheduler");

    static {
        add("ddim", "DDIMScheduler");
        add("pndm", "PNDMScheduler");
        add("lms", "LMSDiscreteScheduler");
        add("euler", "EulerDiscreteScheduler");
        add("euler_a", "EulerAncestralDiscreteScheduler");
        add("heun", "HeunDiscreteScheduler");
        add("dpm2", "KDPM2DiscreteScheduler");
        add("dpm++2m", "DPMSolverMultistepScheduler", "algorithm_type", "dpmsolver++", "solver_order", 2);
        add("dpm++2m_sde", "DPMSolverMultistepScheduler", "algorithm_type", "sde-dpmsolver++", "solver_order", 2);
        add("dpm++2s", "DPMSolverSinglestepScheduler");
        add("unipc", "UniPCMultistepScheduler");
        add("ddpm", "DDPMScheduler");
        add("lcm", "LCMScheduler");
        add("deis", "DEISMultistepScheduler");
    }

    private static void add(String name, String cls, Object... kv) {
        Map<String, Object> o = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            o.put((String) kv[i], kv[i + 1]);
        }
        SAMPLERS.put(name, new Entry(cls, Map.copyOf(o)));
    }

    private SamplerCatalog() {
    }

    /** The sampler names, in the table's order. */
    public static List<String> samplers() {
        return List.copyOf(SAMPLERS.keySet());
    }

    /** The schedule names. */
    public static List<String> schedules() {
        return List.of("default", "karras", "exponential");
    }

    /** The diffusers class of sampler {@code name}. */
    public static String diffusersClass(String name) {
        return entry(name).className();
    }

    private static Entry entry(String name) {
        Entry e = SAMPLERS.get(name.toLowerCase(Locale.ROOT));
        if (e == null) {
            throw new IllegalArgumentException("unknown sampler '" + name + "' (known: " + String.join(", ", SAMPLERS.keySet()) + ")");
        }
        return e;
    }

    /**
     * A scheduler for {@code sampler} (null: the class the model's config names) with {@code schedule} (null or
     * "default") and {@code spacing} (null: the config's or class default), starting from the model's
     * {@code modelConfig} (its {@code _class_name} may be absent).
     */
    public static Scheduler create(String sampler, String schedule, String spacing, SchedulerConfig modelConfig) {
        String cls;
        SchedulerConfig.Builder b = modelConfig.toBuilder().set("steps_offset", 1).set("clip_sample", false);
        if (sampler == null) {
            Object named = modelConfig.asMap().get("_class_name");
            if (!(named instanceof String s)) {
                throw new IllegalArgumentException("no sampler given and the scheduler config names no _class_name");
            }
            cls = s;
        } else {
            Entry e = entry(sampler);
            cls = e.className();
            e.overrides().forEach(b::set);
        }
        if (cls.equals("PNDMScheduler")) {
            b.set("skip_prk_steps", true);
        }
        applySchedule(b, cls, sampler == null ? cls : "'" + sampler + "'", schedule);
        if (spacing != null) {
            if (!List.of("leading", "linspace", "trailing").contains(spacing)) {
                throw new IllegalArgumentException("unknown timestep spacing '" + spacing + "' (leading, linspace, trailing)");
            }
            b.set("timestep_spacing", spacing);
        }
        return Schedulers.create(cls, b.build());
    }

    /** Sets the schedule's config keys (default: leaves the config's). */
    private static void applySchedule(SchedulerConfig.Builder b, String cls, String who, String schedule) {
        String sched = schedule == null ? "default" : schedule.toLowerCase(Locale.ROOT);
        switch (sched) {
            case "default" -> { }
            case "karras", "exponential" -> {
                if (!RESPACEABLE.contains(cls)) {
                    throw new IllegalArgumentException("schedule '" + sched + "' is not available for sampler " + who
                            + " (" + cls + ")");
                }
                b.set("use_karras_sigmas", sched.equals("karras"));
                b.set("use_exponential_sigmas", sched.equals("exponential"));
            }
            default -> throw new IllegalArgumentException("unknown schedule '" + schedule + "' (known: " + schedules() + ")");
        }
    }

    /** {@link Schedulers#byName}: [alias or sampler name] + optional "_karras"/"_exponential", from_config(base, **overrides). */
    static Scheduler byShortName(String shortName, SchedulerConfig base) {
        String name = shortName;
        String schedule = "default";
        for (String s : List.of("karras", "exponential")) {
            if (name.endsWith("_" + s)) {
                name = name.substring(0, name.length() - s.length() - 1);
                schedule = s;
            }
        }
        name = ALIASES.getOrDefault(name, name);
        Entry e = SAMPLERS.get(name);
        if (e == null) {
            throw new IllegalArgumentException("Schedulers.byName: unknown sampler '" + shortName
                    + "' (known: " + Schedulers.shortNames() + ")");
        }
        SchedulerConfig.Builder b = base.toBuilder();
        e.overrides().forEach(b::set);
        applySchedule(b, e.className(), "'" + shortName + "'", schedule);
        return Schedulers.create(e.className(), b.build());
    }
}
