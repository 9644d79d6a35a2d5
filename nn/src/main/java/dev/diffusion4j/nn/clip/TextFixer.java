package dev.diffusion4j.nn.clip;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The subset of <a href="https://ftfy.readthedocs.io">ftfy</a> 6.x {@code fix_text} (default configuration) that
 * matters for prompts, so that tokenization matches HF transformers' slow {@code CLIPTokenizer} with ftfy installed
 * (which is what diffusers' SD pipelines use).
 *
 * <p>Like ftfy, the text is processed line by line (segments end after {@code '\n'}), and each segment runs through
 * the steps below repeatedly until nothing changes:
 * <ol>
 *   <li>HTML entity unescaping ({@code &amp;amp;}, {@code &amp;eacute;}, {@code &amp;#233;}, upper-cased names such
 *       as {@code &amp;EACUTE;}) — only while no {@code '<'} has been seen (ftfy's {@code unescape_html="auto"}: once
 *       a segment contains {@code '<'} the text is treated as HTML and entities are left alone from then on);</li>
 *   <li>mojibake repair, restricted to the unambiguous case: the whole segment, encoded as (sloppy) Windows-1252 /
 *       Latin-1, is valid multi-byte UTF-8 (e.g. {@code "cafÃ©"} → {@code "café"}); ftfy's statistical detection
 *       of partial mojibake is not reproduced;</li>
 *   <li>C1 controls U+0080–U+009F → the Windows-1252 character of that byte;</li>
 *   <li>Latin ligatures (ﬁ, ﬂ, ĳ, ǆ ...) → separate letters;</li>
 *   <li>full-width / half-width forms (U+FF01–U+FFEF) → their NFKC equivalents, ideographic space → space;</li>
 *   <li>curly quotes → straight quotes;</li>
 *   <li>line breaks ({@code \r\n}, {@code \r}, U+2028, U+2029, U+0085) → {@code \n};</li>
 *   <li>lone UTF-16 surrogates → U+FFFD;</li>
 *   <li>ANSI terminal escapes removed;</li>
 *   <li>control characters removed (C0 except tab/LF/FF/CR, DEL, U+206A–U+206F, BOM, U+FFF9–U+FFFC, musical
 *       formatting U+1D173–U+1D17A, tag characters U+E0000–U+E007F);</li>
 *   <li>NFC normalisation.</li>
 * </ol>
 * Thread-safe (stateless).
 */
public final class TextFixer {
    private TextFixer() {
    }

    private static final int MAX_ROUNDS = 16;

    /** Windows-1252 code points for bytes 0x80..0x9F; undefined bytes map to the C1 control itself ("sloppy"). */
    private static final char[] CP1252_HIGH = {
        '\u20AC', '\u0081', '\u201A', '\u0192', '\u201E', '\u2026', '\u2020', '\u2021',
        '\u02C6', '\u2030', '\u0160', '\u2039', '\u0152', '\u008D', '\u017D', '\u008F',
        '\u0090', '\u2018', '\u2019', '\u201C', '\u201D', '\u2022', '\u2013', '\u2014',
        '\u02DC', '\u2122', '\u0161', '\u203A', '\u0153', '\u009D', '\u017E', '\u0178',
    };

    private static final Map<Character, Integer> CP1252_REVERSE = new HashMap<>();

    static {
        for (int i = 0; i < CP1252_HIGH.length; i++) {
            CP1252_REVERSE.put(CP1252_HIGH[i], 0x80 + i);
        }
    }

    private static final Pattern HTML_ENTITY = Pattern.compile("&#?[0-9A-Za-z]{1,24};");
    private static final Pattern ANSI_ESCAPE = Pattern.compile("\u001b\\[((?:\\d|;)*)([a-zA-Z])");

    /** Lazily loaded entity table (about 3500 entries). */
    private static final class Entities {
        static final Map<String, String> MAP = load();

        private static Map<String, String> load() {
            Map<String, String> map = new HashMap<>(8192);
            try (InputStream in = TextFixer.class.getResourceAsStream("html-entities.tsv")) {
                if (in == null) {
                    throw new IllegalStateException("resource html-entities.tsv is missing");
                }
                BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
                for (String line; (line = r.readLine()) != null; ) {
                    if (line.isEmpty() || line.startsWith("#")) {
                        continue;
                    }
                    int tab = line.indexOf('\t');
                    StringBuilder sb = new StringBuilder();
                    for (String hex : line.substring(tab + 1).split(" ")) {
                        sb.appendCodePoint(Integer.parseInt(hex, 16));
                    }
                    map.put(line.substring(0, tab), sb.toString());
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return map;
        }
    }

    /**
     * ftfy {@code fix_text} with default settings (the subset described in the class comment).
     *
     * @param text any text (not null)
     * @return the fixed text
     */
    public static String fixText(String text) {
        if (text == null) {
            throw new IllegalArgumentException("fixText: text is null");
        }
        StringBuilder out = new StringBuilder(text.length());
        boolean unescape = true;
        int pos = 0;
        while (pos < text.length()) {
            int nl = text.indexOf('\n', pos);
            int end = nl < 0 ? text.length() : nl + 1;
            String segment = text.substring(pos, end);
            // ftfy switches HTML unescaping off for this and every later segment once it sees '<'.
            if (unescape && segment.indexOf('<') >= 0) {
                unescape = false;
            }
            out.append(fixSegment(segment, unescape));
            pos = end;
        }
        return out.toString();
    }

    private static String fixSegment(String text, boolean unescape) {
        for (int round = 0; round < MAX_ROUNDS; round++) {
            String orig = text;
            if (unescape) {
                text = unescapeHtml(text);
            }
            text = fixEncoding(text);
            text = fixC1Controls(text);
            text = fixLatinLigatures(text);
            text = fixCharacterWidth(text);
            text = uncurlQuotes(text);
            text = fixLineBreaks(text);
            text = fixSurrogates(text);
            text = ANSI_ESCAPE.matcher(text).replaceAll("");
            text = removeControlChars(text);
            text = Normalizer.normalize(text, Normalizer.Form.NFC);
            if (text.equals(orig)) {
                return text;
            }
        }
        return text;
    }

    /** Replaces HTML entities (named, upper-cased named, decimal and hexadecimal) by their characters. */
    static String unescapeHtml(String text) {
        if (text.indexOf('&') < 0) {
            return text;
        }
        Matcher m = HTML_ENTITY.matcher(text);
        StringBuilder sb = new StringBuilder(text.length());
        while (m.find()) {
            String entity = m.group();
            String replacement = Entities.MAP.get(entity);
            if (replacement == null && entity.startsWith("&#")) {
                replacement = numericEntity(entity);
            }
            m.appendReplacement(sb, Matcher.quoteReplacement(replacement == null ? entity : replacement));
        }
        m.appendTail(sb);
        return sb.toString();
    }

    /** HTML5 numeric character reference rules (as Python's {@code html.unescape}); null if not numeric. */
    private static String numericEntity(String entity) {
        String body = entity.substring(2, entity.length() - 1);
        int num;
        try {
            if (body.startsWith("x") || body.startsWith("X")) {
                num = body.length() > 1 && body.length() <= 9 ? Integer.parseUnsignedInt(body.substring(1), 16) : -1;
                if (body.length() > 9) {
                    num = Integer.MAX_VALUE;   // far beyond U+10FFFF
                }
            } else {
                num = body.length() <= 9 ? Integer.parseInt(body) : Integer.MAX_VALUE;
            }
        } catch (NumberFormatException e) {
            return null;
        }
        if (num < 0) {
            return null;
        }
        if (num == 0) {
            return "\uFFFD";
        }
        if (num == 0x0D) {
            return "\r";
        }
        if (num >= 0x80 && num <= 0x9F) {
            return String.valueOf(CP1252_HIGH[num - 0x80]);   // undefined cp1252 bytes stay C1 controls
        }
        if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
            return "\uFFFD";
        }
        if ((num >= 0x1 && num <= 0x8) || (num >= 0xE && num <= 0x1F) || num == 0xB || (num >= 0x7F && num <= 0x9F)
                || (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE) {
            return "";
        }
        return new String(Character.toChars(num));
    }

    /**
     * Undoes one or more layers of "UTF-8 decoded as Windows-1252/Latin-1" when the whole segment re-encodes to valid
     * UTF-8 that contains at least one multi-byte sequence.
     */
    static String fixEncoding(String text) {
        for (int layer = 0; layer < 4; layer++) {
            String fixed = undoMojibakeOnce(text);
            if (fixed == null) {
                return text;
            }
            text = fixed;
        }
        return text;
    }

    private static String undoMojibakeOnce(String text) {
        boolean nonAscii = false;
        byte[] bytes = new byte[text.length()];
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            int b;
            if (c < 0x80) {
                b = c;
            } else {
                nonAscii = true;
                if (c <= 0xFF) {
                    b = c;   // Latin-1 (and C1 controls, as sloppy-windows-1252 keeps them)
                } else {
                    Integer mapped = CP1252_REVERSE.get(c);
                    if (mapped == null) {
                        return null;   // not representable: this is not single-layer mojibake
                    }
                    b = mapped;
                }
            }
            bytes[i] = (byte) b;
        }
        if (!nonAscii) {
            return null;
        }
        try {
            String decoded = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
            return decoded.length() < text.length() ? decoded : null;
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    static String fixC1Controls(String text) {
        StringBuilder sb = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c >= 0x80 && c <= 0x9F) {
                if (sb == null) {
                    sb = new StringBuilder(text.length()).append(text, 0, i);
                }
                sb.append(CP1252_HIGH[c - 0x80]);
            } else if (sb != null) {
                sb.append(c);
            }
        }
        return sb == null ? text : sb.toString();
    }

    static String fixLatinLigatures(String text) {
        StringBuilder sb = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            String r = switch (c) {
                case '\u0132' -> "IJ";
                case '\u0133' -> "ij";
                case '\u0149' -> "\u02BCn";
                case '\u01C4' -> "D\u017D";
                case '\u01C5' -> "D\u017E";
                case '\u01C6' -> "d\u017E";
                case '\u01C7' -> "LJ";
                case '\u01C8' -> "Lj";
                case '\u01C9' -> "lj";
                case '\u01CA' -> "NJ";
                case '\u01CB' -> "Nj";
                case '\u01CC' -> "nj";
                case '\u01F1' -> "DZ";
                case '\u01F2' -> "Dz";
                case '\u01F3' -> "dz";
                case '\uFB00' -> "ff";
                case '\uFB01' -> "fi";
                case '\uFB02' -> "fl";
                case '\uFB03' -> "ffi";
                case '\uFB04' -> "ffl";
                case '\uFB05' -> "\u017Ft";
                case '\uFB06' -> "st";
                default -> null;
            };
            if (r != null && sb == null) {
                sb = new StringBuilder(text.length() + 8).append(text, 0, i);
            }
            if (sb != null) {
                if (r != null) {
                    sb.append(r);
                } else {
                    sb.append(c);
                }
            }
        }
        return sb == null ? text : sb.toString();
    }

    static String fixCharacterWidth(String text) {
        StringBuilder sb = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            String r = null;
            if (c == '\u3000') {
                r = " ";
            } else if (c >= '\uFF01' && c <= '\uFFEF') {
                String n = Normalizer.normalize(String.valueOf(c), Normalizer.Form.NFKC);
                if (!n.equals(String.valueOf(c))) {
                    r = n;
                }
            }
            if (r != null && sb == null) {
                sb = new StringBuilder(text.length()).append(text, 0, i);
            }
            if (sb != null) {
                if (r != null) {
                    sb.append(r);
                } else {
                    sb.append(c);
                }
            }
        }
        return sb == null ? text : sb.toString();
    }

    static String uncurlQuotes(String text) {
        StringBuilder sb = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            char r = c;
            if (c == '\u02BC' || (c >= '\u2018' && c <= '\u201B')) {
                r = '\'';
            } else if (c >= '\u201C' && c <= '\u201F') {
                r = '"';
            }
            if (r != c && sb == null) {
                sb = new StringBuilder(text).delete(i, text.length());
            }
            if (sb != null) {
                sb.append(r);
            }
        }
        return sb == null ? text : sb.toString();
    }

    static String fixLineBreaks(String text) {
        if (text.indexOf('\r') < 0 && text.indexOf('\u2028') < 0 && text.indexOf('\u2029') < 0
                && text.indexOf('\u0085') < 0) {
            return text;
        }
        return text.replace("\r\n", "\n").replace('\r', '\n').replace('\u2028', '\n').replace('\u2029', '\n')
                .replace('\u0085', '\n');
    }

    static String fixSurrogates(String text) {
        StringBuilder sb = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            boolean lone = false;
            if (Character.isHighSurrogate(c)) {
                if (i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                    if (sb != null) {
                        sb.append(c).append(text.charAt(i + 1));
                    }
                    i++;
                    continue;
                }
                lone = true;
            } else if (Character.isLowSurrogate(c)) {
                lone = true;
            }
            if (lone && sb == null) {
                sb = new StringBuilder(text.length()).append(text, 0, i);
            }
            if (sb != null) {
                sb.append(lone ? '\uFFFD' : c);
            }
        }
        return sb == null ? text : sb.toString();
    }

    private static boolean isRemovedControl(int cp) {
        return (cp <= 0x08) || cp == 0x0B || (cp >= 0x0E && cp <= 0x1F) || cp == 0x7F
                || (cp >= 0x206A && cp <= 0x206F) || cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFC)
                || (cp >= 0x1D173 && cp <= 0x1D17A) || (cp >= 0xE0000 && cp <= 0xE007F);
    }

    static String removeControlChars(String text) {
        StringBuilder sb = null;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            int n = Character.charCount(cp);
            boolean drop = isRemovedControl(cp);
            if (drop && sb == null) {
                sb = new StringBuilder(text.length()).append(text, 0, i);
            }
            if (sb != null && !drop) {
                sb.appendCodePoint(cp);
            }
            i += n;
        }
        return sb == null ? text : sb.toString();
    }

    /**
     * Python's {@code str.isspace()} / {@code re}'s {@code \s} for str patterns: bidi classes WS, B, S or category
     * Zs. Unlike {@link Character#isWhitespace}, it includes the no-break spaces.
     */
    static boolean isPythonSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0
                || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029
                || cp == 0x202F || cp == 0x205F || cp == 0x3000;
    }

    /** {@code re.sub(r"\s+", " ", text).strip()} with Python's notion of whitespace. */
    public static String whitespaceClean(String text) {
        StringBuilder sb = new StringBuilder(text.length());
        boolean pendingSpace = false;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            i += Character.charCount(cp);
            if (isPythonSpace(cp)) {
                pendingSpace = true;
            } else {
                if (pendingSpace && !sb.isEmpty()) {
                    sb.append(' ');
                }
                pendingSpace = false;
                sb.appendCodePoint(cp);
            }
        }
        return sb.toString();
    }
}
