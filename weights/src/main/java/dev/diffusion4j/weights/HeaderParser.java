package dev.diffusion4j.weights;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A strict parser for the JSON header of a safetensors file. Unlike a general JSON binder it rejects
 * duplicate names (a binder silently keeps the last), accepts only what the format allows and bounds
 * nesting, so a crafted header gives a {@link SafeTensorsException} and never a stack overflow.
 */
final class HeaderParser {
    /** One tensor as written in the header, before validation against the file. */
    record RawEntry(String name, String dtype, long[] shape, long begin, long end) {
    }

    /** The parsed header: entries in header order and the metadata strings. */
    record Header(List<RawEntry> entries, Map<String, String> metadata) {
    }

    private static final int MAX_DEPTH = 64;
    private static final int MAX_RANK = 64;

    private final Path path;
    private final String s;
    private int pos;
    private String current = null;

    private HeaderParser(Path path, String s) {
        this.path = path;
        this.s = s;
    }

    static Header parse(Path path, byte[] utf8) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(utf8)).toString();
        } catch (CharacterCodingException e) {
            throw new SafeTensorsException(path, "header is not valid UTF-8");
        }
        return new HeaderParser(path, text).header();
    }

    private SafeTensorsException error(String what) {
        String where = current == null ? "" : "tensor '" + current + "': ";
        return new SafeTensorsException(path, "header is not valid: " + where + what + " at character " + pos);
    }

    private Header header() {
        skipWs();
        expect('{');
        List<RawEntry> entries = new ArrayList<>();
        Map<String, String> metadata = null;
        java.util.Set<String> names = new java.util.HashSet<>();
        skipWs();
        if (peek() == '}') {
            pos++;
        } else {
            while (true) {
                skipWs();
                String name = string();
                if (!names.add(name)) {
                    current = null;
                    throw new SafeTensorsException(path, "header names tensor '" + name + "' twice");
                }
                skipWs();
                expect(':');
                skipWs();
                if (name.equals("__metadata__")) {
                    metadata = metadata();
                } else {
                    current = name;
                    entries.add(entry(name));
                    current = null;
                }
                skipWs();
                char c = next();
                if (c == '}') {
                    break;
                }
                if (c != ',') {
                    pos--;
                    throw error("expected ',' or '}'");
                }
            }
        }
        skipWs();
        if (pos != s.length()) {
            throw error("unexpected text after the header object");
        }
        return new Header(entries, metadata == null ? Map.of() : metadata);
    }

    private Map<String, String> metadata() {
        expect('{');
        Map<String, String> out = new LinkedHashMap<>();
        skipWs();
        if (peek() == '}') {
            pos++;
            return out;
        }
        while (true) {
            skipWs();
            String k = string();
            skipWs();
            expect(':');
            skipWs();
            if (peek() != '"') {
                throw error("__metadata__ value of '" + k + "' is not a string");
            }
            String v = string();
            if (out.put(k, v) != null) {
                throw error("__metadata__ names '" + k + "' twice");
            }
            skipWs();
            char c = next();
            if (c == '}') {
                return out;
            }
            if (c != ',') {
                pos--;
                throw error("expected ',' or '}' in __metadata__");
            }
        }
    }

    private RawEntry entry(String name) {
        if (peek() != '{') {
            throw error("entry is not a JSON object");
        }
        pos++;
        String dtype = null;
        long[] shape = null;
        long[] offsets = null;
        java.util.Set<String> seen = new java.util.HashSet<>();
        skipWs();
        if (peek() == '}') {
            pos++;
        } else {
            while (true) {
                skipWs();
                String k = string();
                if (!seen.add(k)) {
                    throw error("field '" + k + "' given twice");
                }
                skipWs();
                expect(':');
                skipWs();
                switch (k) {
                    case "dtype" -> {
                        if (peek() != '"') {
                            throw error("dtype is not a string");
                        }
                        dtype = string();
                    }
                    case "shape" -> shape = longArray("shape", MAX_RANK);
                    case "data_offsets" -> offsets = longArray("data_offsets", 2);
                    default -> skipValue(1);
                }
                skipWs();
                char c = next();
                if (c == '}') {
                    break;
                }
                if (c != ',') {
                    pos--;
                    throw error("expected ',' or '}'");
                }
            }
        }
        if (dtype == null || shape == null || offsets == null) {
            throw new SafeTensorsException(path, "tensor '" + name + "': entry needs dtype, shape and data_offsets");
        }
        if (offsets.length != 2) {
            throw new SafeTensorsException(path, "tensor '" + name + "': data_offsets has " + offsets.length
                    + " numbers, needs 2");
        }
        for (long d : shape) {
            if (d < 0) {
                throw new SafeTensorsException(path, "tensor '" + name + "': negative dimension " + d + " in shape "
                        + java.util.Arrays.toString(shape));
            }
        }
        return new RawEntry(name, dtype, shape, offsets[0], offsets[1]);
    }

    private long[] longArray(String what, int max) {
        if (peek() != '[') {
            throw error(what + " is not an array");
        }
        pos++;
        List<Long> out = new ArrayList<>();
        skipWs();
        if (peek() == ']') {
            pos++;
            return new long[0];
        }
        while (true) {
            skipWs();
            if (out.size() >= max) {
                throw error(what + " has more than " + max + " numbers");
            }
            out.add(integer(what));
            skipWs();
            char c = next();
            if (c == ']') {
                break;
            }
            if (c != ',') {
                pos--;
                throw error("expected ',' or ']' in " + what);
            }
        }
        long[] a = new long[out.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = out.get(i);
        }
        return a;
    }

    private long integer(String what) {
        int start = pos;
        boolean neg = false;
        if (peek() == '-') {
            neg = true;
            pos++;
        }
        if (pos >= s.length() || !isDigit(s.charAt(pos))) {
            throw error(what + " holds something that is not an integer");
        }
        long v = 0;
        while (pos < s.length() && isDigit(s.charAt(pos))) {
            int d = s.charAt(pos++) - '0';
            if (v > (Long.MAX_VALUE - d) / 10) {
                throw error(what + " number " + s.substring(start, Math.min(s.length(), start + 40))
                        + " does not fit in 64 bits");
            }
            v = v * 10 + d;
        }
        if (pos < s.length() && (s.charAt(pos) == '.' || s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
            throw error(what + " holds a number that is not an integer");
        }
        return neg ? -v : v;
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    /** Skips any JSON value (for fields the format does not define), with bounded nesting. */
    private void skipValue(int depth) {
        if (depth > MAX_DEPTH) {
            throw error("nesting deeper than " + MAX_DEPTH);
        }
        char c = peek();
        switch (c) {
            case '"' -> string();
            case '{', '[' -> {
                char close = c == '{' ? '}' : ']';
                pos++;
                skipWs();
                if (peek() == close) {
                    pos++;
                    return;
                }
                while (true) {
                    skipWs();
                    if (c == '{') {
                        string();
                        skipWs();
                        expect(':');
                        skipWs();
                    }
                    skipValue(depth + 1);
                    skipWs();
                    char d = next();
                    if (d == close) {
                        return;
                    }
                    if (d != ',') {
                        pos--;
                        throw error("expected ',' or '" + close + "'");
                    }
                }
            }
            case 't' -> literal("true");
            case 'f' -> literal("false");
            case 'n' -> literal("null");
            default -> {
                if (c == '-' || isDigit(c)) {
                    pos++;
                    while (pos < s.length() && "0123456789.eE+-".indexOf(s.charAt(pos)) >= 0) {
                        pos++;
                    }
                } else {
                    throw error("unexpected character '" + c + "'");
                }
            }
        }
    }

    private void literal(String word) {
        if (!s.startsWith(word, pos)) {
            throw error("unexpected text");
        }
        pos += word.length();
    }

    private String string() {
        if (peek() != '"') {
            throw error("expected a string");
        }
        pos++;
        StringBuilder b = new StringBuilder();
        while (true) {
            if (pos >= s.length()) {
                throw error("unterminated string");
            }
            char c = s.charAt(pos++);
            if (c == '"') {
                return b.toString();
            }
            if (c < 0x20) {
                throw error("control character in a string");
            }
            if (c != '\\') {
                b.append(c);
                continue;
            }
            if (pos >= s.length()) {
                throw error("unterminated string");
            }
            char e = s.charAt(pos++);
            switch (e) {
                case '"', '\\', '/' -> b.append(e);
                case 'b' -> b.append('\b');
                case 'f' -> b.append('\f');
                case 'n' -> b.append('\n');
                case 'r' -> b.append('\r');
                case 't' -> b.append('\t');
                case 'u' -> {
                    if (pos + 4 > s.length()) {
                        throw error("bad \\u escape");
                    }
                    int v = 0;
                    for (int i = 0; i < 4; i++) {
                        int d = Character.digit(s.charAt(pos++), 16);
                        if (d < 0) {
                            throw error("bad \\u escape");
                        }
                        v = v * 16 + d;
                    }
                    b.append((char) v);
                }
                default -> throw error("bad escape \\" + e);
            }
        }
    }

    private void skipWs() {
        while (pos < s.length()) {
            char c = s.charAt(pos);
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                return;
            }
            pos++;
        }
    }

    private char peek() {
        if (pos >= s.length()) {
            throw error("header ends early");
        }
        return s.charAt(pos);
    }

    private char next() {
        char c = peek();
        pos++;
        return c;
    }

    private void expect(char c) {
        if (peek() != c) {
            throw error("expected '" + c + "'");
        }
        pos++;
    }
}
