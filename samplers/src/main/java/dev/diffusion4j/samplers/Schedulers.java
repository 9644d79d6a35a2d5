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

    /** A scheduler from a parsed {@code scheduler_config.json}, of the class its {@code _class_name} names. */
    public static Scheduler fromConfig(Map<String, ?> json) {
        Object cls = json.get("_class_name");
        if (!(cls instanceof String s)) {
            throw new IllegalArgumentException("Schedulers.fromConfig: the config has no _class_name string");
        }
        return create(s, SchedulerConfig.fromMap(json));
    }
}
