package dev.diffusion4j.weights;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A parser for the small YAML subset of LDM inference configs ({@code v1-inference.yaml} and kin): nested
 * block mappings by indentation, {@code key: scalar}, flow lists {@code [1, 2]}, block lists of scalars
 * ({@code - x}), comments, quoted strings. Scalars become Long, Double, Boolean, null or String. Anything else
 * (anchors, multi-line strings, flow mappings) is rejected with the line number.
 */
public final class LdmYaml {
    private final Map<String, Object> root;

    private LdmYaml(Map<String, Object> root) {
        this.root = root;
    }

    /** Parses {@code file}. */
    public static LdmYaml read(Path file) throws IOException {
        return parse(file.toString(), Files.readString(file));
    }

    /** Parses {@code text}; {@code source} names it in errors. */
    public static LdmYaml parse(String source, String text) {
        Map<String, Object> root = new LinkedHashMap<>();
        // Stack of (indent, container) for the open mappings.
        List<Integer> indents = new ArrayList<>();
        List<Object> containers = new ArrayList<>();
        indents.add(-1);
        containers.add(root);
        String pendingKey = null;
        Map<String, Object> pendingParent = null;
        int pendingIndent = -1;
        String[] lines = text.split("\r?\n", -1);
        for (int n = 0; n < lines.length; n++) {
            String line = stripComment(lines[n]);
            if (line.isBlank()) {
                continue;
            }
            int indent = 0;
            while (indent < line.length() && line.charAt(indent) == ' ') {
                indent++;
            }
            if (line.charAt(indent) == '\t') {
                throw error(source, n, "tabs are not allowed for indentation");
            }
            String body = line.substring(indent).strip();
            if (indents.size() == 1 && indents.get(0) < 0) {
                indents.set(0, indent); // the first line sets the document's indentation
            }
            if (pendingKey != null) {
                // The value of "key:" is the block that follows, if it is more indented.
                if (indent > pendingIndent) {
                    Object c = body.startsWith("- ") || body.equals("-") ? new ArrayList<>() : new LinkedHashMap<>();
                    pendingParent.put(pendingKey, c);
                    indents.add(indent);
                    containers.add(c);
                } else {
                    pendingParent.put(pendingKey, null);
                }
                pendingKey = null;
            }
            while (indent < indents.get(indents.size() - 1)) {
                indents.remove(indents.size() - 1);
                containers.remove(containers.size() - 1);
            }
            if (indent != indents.get(indents.size() - 1)) {
                throw error(source, n, "unexpected indentation");
            }
            Object top = containers.get(containers.size() - 1);
            if (top instanceof List<?>) {
                if (!body.startsWith("-")) {
                    throw error(source, n, "expected a '- item' list entry");
                }
                @SuppressWarnings("unchecked")
                List<Object> list = (List<Object>) top;
                list.add(scalar(source, n, body.substring(1).strip()));
                continue;
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> map = (Map<String, Object>) top;
            int colon = keyColon(body);
            if (colon < 0) {
                throw error(source, n, "expected 'key: value'");
            }
            String key = unquote(body.substring(0, colon).strip());
            String value = body.substring(colon + 1).strip();
            if (map.containsKey(key)) {
                throw error(source, n, "key '" + key + "' given twice");
            }
            if (value.isEmpty()) {
                pendingKey = key;
                pendingParent = map;
                pendingIndent = indent;
                map.put(key, null);
            } else {
                map.put(key, scalar(source, n, value));
            }
        }
        return new LdmYaml(root);
    }

    private static int keyColon(String body) {
        boolean quoted = false;
        for (int i = 0; i < body.length(); i++) {
            char c = body.charAt(i);
            if (c == '"' || c == '\'') {
                quoted = !quoted;
            } else if (c == ':' && !quoted && (i + 1 == body.length() || body.charAt(i + 1) == ' ')) {
                return i;
            }
        }
        return -1;
    }

    private static String stripComment(String line) {
        boolean single = false;
        boolean dbl = false;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c == '\'' && !dbl) {
                single = !single;
            } else if (c == '"' && !single) {
                dbl = !dbl;
            } else if (c == '#' && !single && !dbl && (i == 0 || line.charAt(i - 1) == ' ')) {
                return line.substring(0, i);
            }
        }
        return line;
    }

    private static Object scalar(String source, int n, String v) {
        if (v.startsWith("[")) {
            if (!v.endsWith("]")) {
                throw error(source, n, "flow list must close on the same line");
            }
            List<Object> out = new ArrayList<>();
            String inner = v.substring(1, v.length() - 1).strip();
            if (!inner.isEmpty()) {
                for (String part : inner.split(",")) {
                    out.add(scalar(source, n, part.strip()));
                }
            }
            return out;
        }
        if (v.startsWith("{") || v.startsWith("&") || v.startsWith("*") || v.startsWith("|") || v.startsWith(">")) {
            throw error(source, n, "YAML feature not supported by this subset parser: " + v);
        }
        if (v.startsWith("\"") || v.startsWith("'")) {
            return unquote(v);
        }
        switch (v) {
            case "true", "True", "TRUE" -> {
                return Boolean.TRUE;
            }
            case "false", "False", "FALSE" -> {
                return Boolean.FALSE;
            }
            case "null", "~", "Null", "NULL" -> {
                return null;
            }
            default -> {
            }
        }
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            // not an integer
        }
        try {
            if (v.matches("[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?")) {
                return Double.parseDouble(v);
            }
        } catch (NumberFormatException e) {
            // not a number
        }
        return v;
    }

    private static String unquote(String s) {
        if (s.length() >= 2 && (s.startsWith("\"") && s.endsWith("\"") || s.startsWith("'") && s.endsWith("'"))) {
            return s.substring(1, s.length() - 1);
        }
        return s;
    }

    private static IllegalArgumentException error(String source, int line, String what) {
        return new IllegalArgumentException(source + ":" + (line + 1) + ": " + what);
    }

    /** The whole document. */
    public Map<String, Object> root() {
        return root;
    }

    /** The value at a dotted path such as {@code model.params.unet_config.params.num_heads}, if present. */
    public Optional<Object> get(String dottedPath) {
        Object cur = root;
        for (String part : dottedPath.split("\\.")) {
            if (!(cur instanceof Map<?, ?> m) || !m.containsKey(part)) {
                return Optional.empty();
            }
            cur = m.get(part);
        }
        return Optional.ofNullable(cur);
    }

    /** The integer at {@code dottedPath}, if present and integral. */
    public Optional<Long> getLong(String dottedPath) {
        return get(dottedPath).filter(v -> v instanceof Long).map(v -> (Long) v);
    }

    /** The list of integers at {@code dottedPath}, if present. */
    public Optional<List<Long>> getLongList(String dottedPath) {
        return get(dottedPath).filter(v -> v instanceof List<?> l && l.stream().allMatch(x -> x instanceof Long))
                .map(v -> ((List<?>) v).stream().map(x -> (Long) x).toList());
    }
}
