package dev.diffusion4j.samplers;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A scheduler configuration as diffusers' {@code scheduler_config.json} holds it: keys are diffusers'
 * ({@code beta_start}, {@code beta_end}, {@code beta_schedule}, {@code num_train_timesteps},
 * {@code prediction_type}, {@code steps_offset}, {@code timestep_spacing}, {@code use_karras_sigmas},
 * {@code clip_sample}, {@code set_alpha_to_one}, {@code skip_prk_steps}, ...).
 *
 * <p>Only the keys that were given are stored: a key that is absent takes the default of the scheduler
 * class that reads it (diffusers 0.27.2's class defaults, which differ between classes, e.g.
 * {@code timestep_spacing} is "leading" for DDIM but "linspace" for Euler). Keys a scheduler does not
 * know are carried and ignored, as diffusers' {@code from_config} does. Values are the JSON types
 * (Number, Boolean, String, List, null); the string {@code "-inf"}/{@code "inf"} stands for an infinity.
 */
public final class SchedulerConfig {
    private final Map<String, Object> values;

    private SchedulerConfig(Map<String, Object> values) {
        this.values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
    }

    /** A configuration from a parsed {@code scheduler_config.json} (the map is copied). */
    public static SchedulerConfig fromMap(Map<String, ?> json) {
        return new SchedulerConfig(new LinkedHashMap<>(json));
    }

    /** SD1.5's {@code scheduler_config.json} (PNDM, scaled_linear 0.00085..0.012, steps_offset 1). */
    public static SchedulerConfig sd15() {
        return builder().set("beta_start", 0.00085).set("beta_end", 0.012).set("beta_schedule", "scaled_linear")
                .set("num_train_timesteps", 1000).set("clip_sample", false).set("set_alpha_to_one", false)
                .set("skip_prk_steps", true).set("steps_offset", 1).set("trained_betas", null).build();
    }

    /** An empty builder (every key at its class default). */
    public static Builder builder() {
        return new Builder(new LinkedHashMap<>());
    }

    /** A builder starting from this configuration, e.g. to override keys ({@code from_config(cfg, **kw)}). */
    public Builder toBuilder() {
        return new Builder(new LinkedHashMap<>(values));
    }

    /** The given keys and values (unmodifiable). */
    public Map<String, Object> asMap() {
        return values;
    }

    /** True when {@code key} was given (even as null). */
    public boolean has(String key) {
        return values.containsKey(key);
    }

    /** {@code key} as a double, or {@code def} when absent or null. */
    public double getDouble(String key, double def) {
        Object v = values.get(key);
        if (v == null) {
            return def;
        }
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        if (v instanceof String s) {
            switch (s.trim().toLowerCase(java.util.Locale.ROOT)) {
                case "-inf", "-infinity" -> {
                    return Double.NEGATIVE_INFINITY;
                }
                case "inf", "infinity" -> {
                    return Double.POSITIVE_INFINITY;
                }
                default -> {
                }
            }
        }
        throw new IllegalArgumentException("scheduler config: '" + key + "' must be a number, got " + v);
    }

    /** {@code key} as an int, or {@code def} when absent or null. */
    public int getInt(String key, int def) {
        Object v = values.get(key);
        if (v == null) {
            return def;
        }
        if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())) {
            return Math.toIntExact(n.longValue());
        }
        throw new IllegalArgumentException("scheduler config: '" + key + "' must be an integer, got " + v);
    }

    /** {@code key} as a boolean, or {@code def} when absent or null. */
    public boolean getBoolean(String key, boolean def) {
        Object v = values.get(key);
        if (v == null) {
            return def;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        throw new IllegalArgumentException("scheduler config: '" + key + "' must be a boolean, got " + v);
    }

    /** {@code key} as a string, or {@code def} when absent or null. */
    public String getString(String key, String def) {
        Object v = values.get(key);
        if (v == null) {
            return def;
        }
        if (v instanceof String s) {
            return s;
        }
        throw new IllegalArgumentException("scheduler config: '" + key + "' must be a string, got " + v);
    }

    /** {@code key} as a list of numbers (e.g. {@code trained_betas}), or null when absent or null. */
    public double[] getDoubles(String key) {
        Object v = values.get(key);
        if (v == null) {
            return null;
        }
        if (v instanceof List<?> l) {
            double[] out = new double[l.size()];
            for (int i = 0; i < out.length; i++) {
                if (!(l.get(i) instanceof Number n)) {
                    throw new IllegalArgumentException("scheduler config: '" + key + "' must hold numbers, got " + l.get(i));
                }
                out[i] = n.doubleValue();
            }
            return out;
        }
        if (v instanceof double[] d) {
            return d.clone();
        }
        throw new IllegalArgumentException("scheduler config: '" + key + "' must be a list of numbers, got " + v);
    }

    @Override
    public String toString() {
        return "SchedulerConfig" + values;
    }

    /** Builds a configuration key by key (diffusers key names). */
    public static final class Builder {
        private final Map<String, Object> values;

        private Builder(Map<String, Object> values) {
            this.values = values;
        }

        /** Sets {@code key} (a diffusers config key) to a JSON-like value (Number, Boolean, String, List, null). */
        public Builder set(String key, Object value) {
            values.put(key, value);
            return this;
        }

        public Builder betaStart(double v) {
            return set("beta_start", v);
        }

        public Builder betaEnd(double v) {
            return set("beta_end", v);
        }

        /** "linear", "scaled_linear" or "squaredcos_cap_v2". */
        public Builder betaSchedule(String v) {
            return set("beta_schedule", v);
        }

        public Builder numTrainTimesteps(int v) {
            return set("num_train_timesteps", v);
        }

        /** "epsilon", "v_prediction" or "sample". */
        public Builder predictionType(String v) {
            return set("prediction_type", v);
        }

        public Builder stepsOffset(int v) {
            return set("steps_offset", v);
        }

        /** "leading", "linspace" or "trailing". */
        public Builder timestepSpacing(String v) {
            return set("timestep_spacing", v);
        }

        public Builder useKarrasSigmas(boolean v) {
            return set("use_karras_sigmas", v);
        }

        public Builder clipSample(boolean v) {
            return set("clip_sample", v);
        }

        public Builder setAlphaToOne(boolean v) {
            return set("set_alpha_to_one", v);
        }

        public Builder skipPrkSteps(boolean v) {
            return set("skip_prk_steps", v);
        }

        public SchedulerConfig build() {
            return new SchedulerConfig(values);
        }
    }
}
