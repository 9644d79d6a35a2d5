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
                "dpm_singlestep", "unipc", "ddpm", "lcm", "deis", "euler_exponential", "dpmpp_2m_exponential");
    }

    /**
     * A scheduler by short name, built from a model's base config (e.g. SD1.5's PNDM config) with the
     * overrides the name implies, like {@code Class.from_config(base, **overrides)}: e.g. "dpmpp_2m_karras"
     * = DPMSolverMultistepScheduler with algorithm_type dpmsolver++, solver_order 2, use_karras_sigmas. A short
     * name is a {@link SamplerCatalog} sampler name or one of its fixture aliases (kdpm2, dpmpp_2m, dpmpp_2m_sde,
     * dpm_singlestep), optionally followed by "_karras" or "_exponential"; unlike {@link SamplerCatalog#create},
     * nothing of the pipeline's (steps_offset, clip_sample) is forced.
     *
     * @throws IllegalArgumentException for an unknown name (the message lists {@link #shortNames()})
     */
    public static Scheduler byName(String shortName, SchedulerConfig base) {
        return SamplerCatalog.byShortName(shortName, base);
    }

    /** diffusers' betas of {@code config} as cumulative alphas (float32, increasing t), e.g. for k-diffusion's sigmas. */
    public static float[] alphasCumprod(SchedulerConfig config) {
        return Schedules.alphasCumprod(Schedules.betas(config));
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
