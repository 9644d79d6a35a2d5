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
import java.util.Locale;
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
 *   <li>mojibake repair ("UTF-8 read as Windows-1252/Latin-1", several layers), also inside otherwise correct
 *       text, e.g. {@code "cafÃ©"} → {@code "café"}; a simple evidence rule (see {@link #undoMojibakeOnce}) stands
 *       in for ftfy's "badness" heuristic, so rare borderline strings may be decided differently. {@code restore_byte_a0} only for
 *       {@code Ã}/{@code Â} after a lower-case letter ({@code "voilÃ le"}). Not reproduced: lossy sequences, CESU-8, and the other single-byte code
 *       pages (1250, 1251, 1254, MacRoman, cp437 ...);</li>
 *   <li>C1 controls U+0080–U+009F → the Windows-1252 character of that byte;</li>
 *   <li>Latin ligatures (ﬁ, ﬂ, ĳ, ǆ ...) → separate letters;</li>
 *   <li>full-width / half-width forms (U+FF01–U+FFEF) → their NFKC equivalents, ideographic space → space;</li>
 *   <li>curly quotes → straight quotes;</li>
 *   <li>line breaks ({@code \r\n}, {@code \r}, U+2028, U+2029, U+0085) → {@code \n};</li>
 *   <li>lone UTF-16 surrogates → U+FFFD;</li>
 *   <li>ANSI terminal escapes removed;</li>
 *   <li>control characters removed (C0 except tab/LF/FF/CR, DEL, U+206A–U+206F, BOM, U+FFF9–U+FFFC);</li>
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
     * Undoes "UTF-8 decoded as Windows-1252/Latin-1" mojibake, layer by layer (see {@link #undoMojibakeOnce}).
     */
    static String fixEncoding(String text) {
        for (int layer = 0; layer < 4; layer++) {
            String fixed = undoMojibakeOnce(text);
            if (fixed.equals(text)) {
                return text;
            }
            text = fixed;
        }
        return text;
    }

    /** The Windows-1252 (sloppy) / Latin-1 byte of a character, or -1 if it has none. */
    private static int byteOf(char c) {
        if (c <= 0xFF) {
            return c;
        }
        Integer b = CP1252_REVERSE.get(c);
        return b == null ? -1 : b;
    }

    /** Lead bytes whose 2-byte mojibake is common and whose legitimate use before 0x80..0xBF characters is rare. */
    private static boolean strongLead(int b) {
        return switch (b) {
            case 0xC2, 0xC3, 0xC4, 0xC5, 0xCE, 0xCF, 0xD0, 0xD1, 0xD8, 0xD9 -> true;   // Â Ã Ä Å Î Ï Ð Ñ Ø Ù
            default -> false;
        };
    }

    /**
     * Whether {@code "Ã "} / {@code "Â "} at {@code i} is a mangled {@code "à"} / no-break space
     * ({@code "voilÃ le"}, {@code "Ã la carte"}). Not after an upper-case letter: legitimate upper-case Portuguese
     * ({@code "IRMÃ E"}) ends words in {@code Ã}.
     */
    private static boolean restoresByteA0(String text, int i) {
        char lead = text.charAt(i);
        if (lead != '\u00C3' && lead != '\u00C2') {
            return false;
        }
        if (i == 0) {
            return true;
        }
        int prev = text.codePointBefore(i);
        return !Character.isUpperCase(prev) && !Character.isTitleCase(prev);
    }

    /** Windows-1252 punctuation that legitimately follows letters such as Ñ or Å ("AÑO…", "Å–"). */
    private static boolean isTypographicPunctuation(char c) {
        return switch (c) {
            case '\u2026', '\u2013', '\u2014', '\u2018', '\u2019', '\u201A', '\u201C', '\u201D', '\u201E',
                 '\u2022', '\u2020', '\u2021', '\u2030', '\u2039', '\u203A' -> true;
            default -> false;
        };
    }

    /**
     * One layer of mojibake repair. Each character is mapped back to its Windows-1252/Latin-1 byte; every place where
     * those bytes form a valid multi-byte UTF-8 sequence is a candidate, and runs of adjacent candidates are decoded
     * when the evidence is strong: a 3- or 4-byte sequence, two or more sequences in a row, a raw C1 control as
     * continuation, or a 2-byte sequence with a typical mojibake lead ({@code Â Ã Ä Å Î Ï Ð Ñ Ø Ù}) not followed
     * by typographic punctuation ({@code … – — ‘ ’ “ ” • ...}). So {@code "cafÃ©"} → {@code "café"},
     * {@code "itâ€™s"} → {@code "it’s"}, while {@code "heiß“"} or {@code "É€"} stay (ftfy's badness heuristic keeps
     * those too); correct text around the mojibake is left alone.
     */
    static String undoMojibakeOnce(String text) {
        StringBuilder sb = null;
        int copied = 0;
        int i = 0;
        int n = text.length();
        while (i < n) {
            // Collect a run of adjacent valid UTF-8 sequences starting at i.
            int runStart = i;
            int runEnd = i;
            int sequences = 0;
            boolean strong = false;
            StringBuilder decoded = new StringBuilder();
            while (runEnd < n) {
                int lead = text.charAt(runEnd) < 0x80 ? -1 : byteOf(text.charAt(runEnd));
                int len = lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3
                        : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0;
                if (len == 0 || runEnd + len > n) {
                    break;
                }
                if (text.charAt(runEnd + 1) == ' ' && restoresByteA0(text, runEnd)) {
                    // ftfy's restore_byte_a0: the 0xA0 byte became a plain space. "Ã " is "à" followed by that
                    // space (ftfy keeps it); "Â " is a no-break space.
                    boolean aGrave = text.charAt(runEnd) == '\u00C3';
                    decoded.append(aGrave ? '\u00E0' : '\u00A0');
                    runEnd += aGrave ? 1 : 2;
                    sequences++;
                    strong = true;
                    continue;
                }
                byte[] bytes = new byte[len];
                bytes[0] = (byte) lead;
                boolean ok = true;
                boolean c1 = false;
                for (int k = 1; k < len && ok; k++) {
                    char c = text.charAt(runEnd + k);
                    int b = byteOf(c);
                    ok = b >= 0x80 && b <= 0xBF;
                    c1 |= c >= 0x80 && c <= 0x9F;   // a raw C1 control is itself a sign of mis-decoding
                    bytes[k] = (byte) b;
                }
                String ch = ok ? decodeStrict(bytes) : null;
                if (ch == null) {
                    break;
                }
                decoded.append(ch);
                sequences++;
                strong |= len > 2 || c1 || (strongLead(lead) && !isTypographicPunctuation(text.charAt(runEnd + 1)));
                runEnd += len;
            }
            if (sequences > 0 && (strong || sequences >= 2)) {
                if (sb == null) {
                    sb = new StringBuilder(n);
                }
                sb.append(text, copied, runStart).append(decoded);
                copied = runEnd;
                i = runEnd;
            } else {
                i = runStart + 1;
            }
        }
        if (sb == null) {
            return text;
        }
        return sb.append(text, copied, n).toString();
    }

    private static String decodeStrict(byte[] bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
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
        // ftfy 6 no longer strips musical-notation controls or tag characters (flag emoji use the latter).
        return (cp <= 0x08) || cp == 0x0B || (cp >= 0x0E && cp <= 0x1F) || cp == 0x7F
                || (cp >= 0x206A && cp <= 0x206F) || cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFC);
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
     * Python's {@code str.lower()}: full Unicode lower-casing with Python's Final_Sigma rule. Java's
     * {@link String#toLowerCase} decides final sigma by word boundaries instead ({@code "ΟΔΟΣ2"}, {@code "ΟΔΟΣ\""}
     * differ), so capital sigma is handled here.
     *
     * @param text any text
     * @return the lower-cased text
     */
    public static String pythonLower(String text) {
        if (text.indexOf('\u03A3') < 0) {
            return text.toLowerCase(Locale.ROOT);
        }
        StringBuilder sb = new StringBuilder(text.length());
        int start = 0;
        for (int i = text.indexOf('\u03A3'); i >= 0; i = text.indexOf('\u03A3', i + 1)) {
            sb.append(text.substring(start, i).toLowerCase(Locale.ROOT));
            sb.append(isFinalSigma(text, i) ? '\u03C2' : '\u03C3');
            start = i + 1;
        }
        sb.append(text.substring(start).toLowerCase(Locale.ROOT));
        return sb.toString();
    }

    /** Final_Sigma: {@code cased case-ignorable* Σ} not followed by {@code case-ignorable* cased}. */
    private static boolean isFinalSigma(String s, int i) {
        int j = i;
        int cp = -1;
        while (j > 0) {
            cp = s.codePointBefore(j);
            j -= Character.charCount(cp);
            if (!isCaseIgnorable(cp)) {
                break;
            }
            cp = -1;
        }
        if (cp < 0 || !isCased(cp)) {
            return false;
        }
        for (int k = i + 1; k < s.length(); ) {
            int c = s.codePointAt(k);
            k += Character.charCount(c);
            if (!isCaseIgnorable(c)) {
                return !isCased(c);
            }
        }
        return true;
    }

    /** Unicode "Cased": Lowercase, Uppercase or titlecase letter. */
    private static boolean isCased(int cp) {
        return Character.isLowerCase(cp) || Character.isUpperCase(cp) || Character.isTitleCase(cp);
    }

    /** Unicode "Case_Ignorable": Mn, Me, Cf, Lm, Sk, or Word_Break MidLetter / MidNumLet / Single_Quote. */
    private static boolean isCaseIgnorable(int cp) {
        switch (Character.getType(cp)) {
            case Character.NON_SPACING_MARK, Character.ENCLOSING_MARK, Character.FORMAT, Character.MODIFIER_LETTER,
                 Character.MODIFIER_SYMBOL -> {
                return true;
            }
            default -> {
                return switch (cp) {
                    case 0x27, 0x2E, 0x3A, 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019, 0x2024, 0x2027, 0xFE13, 0xFE52,
                         0xFE55, 0xFF07, 0xFF0E, 0xFF1A -> true;
                    default -> false;
                };
            }
        }
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
