package dev.diffusion4j.samplers;

import java.util.List;
import java.util.Map;

/** Creates schedulers by diffusers class name, like {@code SchedulerClass.from_config(config)}. */
public final class Schedulers {
    private Schedulers() {
    }

    /** The diffusers class names this module implements. */
    public static List<String> names() {
        return List.of("PNDMScheduler", "DDIMScheduler", "EulerDiscreteScheduler",
                "EulerAncestralDiscreteScheduler", "DPMSolverMultistepScheduler", "LMSDiscreteScheduler",
                "HeunDiscreteScheduler", "KDPM2DiscreteScheduler", "DDPMScheduler", "LCMScheduler",
                "UniPCMultistepScheduler", "DEISMultistepScheduler", "DPMSolverSinglestepScheduler");
    }

    /**
     * A scheduler of diffusers class {@code className} built from {@code config} (keys the class does not
     * know are ignored).
     *
     * @throws IllegalArgumentException for an unknown class name or an unsupported configuration
     */
    public static Scheduler create(String className, SchedulerConfig config) {
        return switch (className) {
            case "PNDMScheduler" -> new PNDMScheduler(config);
            case "DDIMScheduler" -> new DDIMScheduler(config);
            case "EulerDiscreteScheduler" -> new EulerDiscreteScheduler(config);
            case "EulerAncestralDiscreteScheduler" -> new EulerAncestralDiscreteScheduler(config);
            case "DPMSolverMultistepScheduler" -> new DPMSolverMultistepScheduler(config);
            case "LMSDiscreteScheduler" -> new LMSDiscreteScheduler(config);
            case "HeunDiscreteScheduler" -> new HeunDiscreteScheduler(config);
            case "KDPM2DiscreteScheduler" -> new KDPM2DiscreteScheduler(config);
            case "DDPMScheduler" -> new DDPMScheduler(config);
            case "LCMScheduler" -> new LCMScheduler(config);
            case "UniPCMultistepScheduler" -> new UniPCMultistepScheduler(config);
            case "DEISMultistepScheduler" -> new DEISMultistepScheduler(config);
            case "DPMSolverSinglestepScheduler" -> new DPMSolverSinglestepScheduler(config);
            default -> throw new IllegalArgumentException("Schedulers.create: unknown scheduler class '" + className
                    + "' (known: " + names() + ")");
        };
    }

    /** Short sampler names (as the fixtures and the {@code sd} command use them) accepted by {@link #byName}. */
    public static List<String> shortNames() {
        return List.of("ddim", "pndm", "lms", "lms_karras", "euler", "euler_karras", "euler_a", "heun", "heun_karras",
                "kdpm2", "dpm2", "dpm2_karras", "dpmpp_2m", "dpmpp_2m_karras", "dpmpp_2m_sde", "dpmpp_2m_sde_karras",
                "dpm_singlestep", "unipc", "ddpm", "lcm", "deis");
    }

    /**
     * A scheduler by short name, built from a model's base config (e.g. SD1.5's PNDM config) with the
     * overrides the name implies, like {@code Class.from_config(base, **overrides)}: e.g. "dpmpp_2m_karras"
     * = DPMSolverMultistepScheduler with algorithm_type dpmsolver++, solver_order 2, use_karras_sigmas.
     *
     * @throws IllegalArgumentException for an unknown name (the message lists {@link #shortNames()})
     */
    public static Scheduler byName(String shortName, SchedulerConfig base) {
        SchedulerConfig.Builder b = base.toBuilder();
        String cls = switch (shortName) {
            case "ddim" -> "DDIMScheduler";
            case "pndm" -> "PNDMScheduler";
            case "lms", "lms_karras" -> "LMSDiscreteScheduler";
            case "euler", "euler_karras" -> "EulerDiscreteScheduler";
            case "euler_a" -> "EulerAncestralDiscreteScheduler";
            case "heun", "heun_karras" -> "HeunDiscreteScheduler";
            case "kdpm2", "dpm2", "dpm2_karras" -> "KDPM2DiscreteScheduler";
            case "dpmpp_2m", "dpmpp_2m_karras" -> {
                b.set("algorithm_type", "dpmsolver++").set("solver_order", 2);
                yield "DPMSolverMultistepScheduler";
            }
            case "dpmpp_2m_sde", "dpmpp_2m_sde_karras" -> {
                b.set("algorithm_type", "sde-dpmsolver++").set("solver_order", 2);
                yield "DPMSolverMultistepScheduler";
            }
            case "dpm_singlestep" -> "DPMSolverSinglestepScheduler";
            case "unipc" -> "UniPCMultistepScheduler";
            case "ddpm" -> "DDPMScheduler";
            case "lcm" -> "LCMScheduler";
            case "deis" -> "DEISMultistepScheduler";
            default -> throw new IllegalArgumentException("Schedulers.byName: unknown sampler '" + shortName
                    + "' (known: " + shortNames() + ")");
        };
        if (shortName.endsWith("_karras")) {
            b.set("use_karras_sigmas", true);
        }
        return create(cls, b.build());
    }

    /** A scheduler from a parsed {@code scheduler_config.json}, of the class its {@code _class_name} names. */
    public static Scheduler fromConfig(Map<String, ?> json) {
        Object cls = json.get("_class_name");
        if (!(cls instanceof String s)) {
            throw new IllegalArgumentException("Schedulers.fromConfig: the config has no _class_name string");
        }
        return create(s, SchedulerConfig.fromMap(json));
    }
}
