package dev.diffusion4j.nn;

import com.fasterxml.jackson.jr.ob.JSON;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A diffusers {@code config.json}: typed access to its keys, with the class defaults the caller gives for absent
 * (or null) keys, and errors that name the file and the key.
 */
public final class ModelConfig {
    private final String source;
    private final Map<String, Object> values;

    /** A config from already parsed values; {@code source} names it in error messages. */
    public ModelConfig(String source, Map<String, Object> values) {
        this.source = source;
        this.values = new LinkedHashMap<>(values);
    }

    /** Reads a JSON config file. */
    public static ModelConfig read(Path file) throws IOException {
        String text = Files.readString(file);
        Map<String, Object> map;
        try {
            map = JSON.std.mapFrom(text);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": not a valid JSON config: " + e.getMessage(), e);
        }
        return new ModelConfig(file.toString(), map);
    }

    /** Where this config came from. */
    public String source() {
        return source;
    }

    /** The values (unmodifiable). */
    public Map<String, Object> asMap() {
        return java.util.Collections.unmodifiableMap(values);
    }

    /** True when {@code key} is present and not null. */
    public boolean has(String key) {
        return values.get(key) != null;
    }

    /** The raw value (null when absent). */
    public Object raw(String key) {
        return values.get(key);
    }

    /** An integer value, or {@code def} when absent or null. */
    public int getInt(String key, int def) {
        Object v = values.get(key);
        if (v == null) {
            return def;
        }
        if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())) {
            return n.intValue();
        }
        throw bad(key, v, "an integer");
    }

    /** A required integer value. */
    public int getInt(String key) {
        if (!has(key)) {
            throw new IllegalArgumentException(source + ": missing config key '" + key + "'");
        }
        return getInt(key, 0);
    }

    /** A floating-point value, or {@code def} when absent or null. */
    public double getDouble(String key, double def) {
        Object v = values.get(key);
        if (v == null) {
            return def;
        }
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        throw bad(key, v, "a number");
    }

    /** A boolean value, or {@code def} when absent or null. */
    public boolean getBoolean(String key, boolean def) {
        Object v = values.get(key);
        if (v == null) {
            return def;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        throw bad(key, v, "true or false");
    }

    /** A string value, or {@code def} when absent or null. */
    public String getString(String key, String def) {
        Object v = values.get(key);
        if (v == null) {
            return def;
        }
        if (v instanceof String s) {
            return s;
        }
        throw bad(key, v, "a string");
    }

    /** A list of strings; required. */
    public List<String> getStrings(String key) {
        Object v = values.get(key);
        if (!(v instanceof List<?> list)) {
            throw v == null ? new IllegalArgumentException(source + ": missing config key '" + key + "'") : bad(key, v, "a list of strings");
        }
        List<String> out = new ArrayList<>();
        for (Object o : list) {
            if (!(o instanceof String s)) {
                throw bad(key, v, "a list of strings");
            }
            out.add(s);
        }
        return out;
    }

    /**
     * An integer list; a single integer is repeated {@code n} times (diffusers accepts both for keys such as
     * {@code attention_head_dim}); {@code def} fills an absent key. A list must have {@code n} entries when
     * {@code n > 0}.
     */
    public int[] getInts(String key, int n, Integer def) {
        Object v = values.get(key);
        if (v == null) {
            if (def == null) {
                throw new IllegalArgumentException(source + ": missing config key '" + key + "'");
            }
            v = def;
        }
        int[] out;
        if (v instanceof Number) {
            if (n <= 0) {
                throw bad(key, v, "a list");
            }
            out = new int[n];
            java.util.Arrays.fill(out, getIntValue(key, v));
            return out;
        }
        if (!(v instanceof List<?> list)) {
            throw bad(key, v, "an integer or a list of integers");
        }
        out = new int[list.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = getIntValue(key, list.get(i));
        }
        if (n > 0 && out.length != n) {
            throw new IllegalArgumentException(source + ": config key '" + key + "' has " + out.length
                    + " entries, expected " + n);
        }
        return out;
    }

    private int getIntValue(String key, Object v) {
        if (v instanceof Number num && num.doubleValue() == Math.rint(num.doubleValue())) {
            return num.intValue();
        }
        throw bad(key, v, "integers");
    }

    private IllegalArgumentException bad(String key, Object v, String expected) {
        return new IllegalArgumentException(source + ": config key '" + key + "' is " + v + ", expected " + expected);
    }
}
