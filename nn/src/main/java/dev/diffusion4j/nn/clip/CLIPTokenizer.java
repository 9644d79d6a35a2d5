package dev.diffusion4j.nn.clip;

import com.fasterxml.jackson.jr.ob.JSON;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * CLIP's byte-level BPE tokenizer with the semantics of HF transformers' slow {@code CLIPTokenizer} (ftfy installed),
 * as diffusers' Stable Diffusion pipelines use it.
 *
 * <p>Pipeline for a prompt:
 * <ol>
 *   <li>special-token texts ({@code <|startoftext|>}, {@code <|endoftext|>}, and the configured pad/unk tokens) are
 *       split out first (leftmost-longest, case-sensitive) and map straight to their ids;</li>
 *   <li>every other piece is cleaned: {@link TextFixer#fixText ftfy fix_text} → whitespace collapsed and stripped →
 *       lower-cased;</li>
 *   <li>pre-tokenised by CLIP's regex: contractions ({@code 's 't 're 've 'm 'll 'd}), letter runs, single digits,
 *       runs of other non-space symbols;</li>
 *   <li>each piece → UTF-8 bytes → GPT-2's printable byte alphabet; {@code </w>} appended to the last symbol;
 *       adjacent symbol pairs are merged by lowest merge rank until none applies;</li>
 *   <li>symbols → ids through {@code vocab.json} (unknown → the unk id).</li>
 * </ol>
 * {@link #inputIds} then builds the 77-id text-encoder input: BOS + at most 75 ids + EOS + padding (EOS for SD1.x,
 * 0 = {@code "!"} for SD2/OpenCLIP).
 *
 * <p>Instances are immutable apart from a bounded, thread-safe BPE cache; they are safe to share between threads.
 */
public final class CLIPTokenizer {

    /** How the 77-id input is padded after EOS. */
    public enum Padding {
        /** Pad with EOS (49407): SD1.x, HF {@code pad_token = <|endoftext|>}. */
        EOS,
        /** Pad with id 0 ({@code "!"}): SD2.x / OpenCLIP. */
        ZERO
    }

    /**
     * A prompt prepared for the text encoder.
     *
     * @param inputIds   {@link #maxLength()} ids: BOS, the (possibly truncated) tokens, EOS, padding
     * @param tokenCount number of prompt tokens before truncation (without BOS/EOS)
     * @param truncated  whether tokens were dropped (callers should warn the user)
     */
    public record Encoded(int[] inputIds, int tokenCount, boolean truncated) {
        /** Index of the first EOS (what CLIP pools on for the usual vocabulary, where EOS is the largest id). */
        public int eosIndex(int eosId) {
            for (int i = 0; i < inputIds.length; i++) {
                if (inputIds[i] == eosId) {
                    return i;
                }
            }
            return inputIds.length - 1;
        }
    }

    /** HF keeps only this many merges of merges.txt (49152 - 256 - 2). */
    static final int MAX_MERGES = 49152 - 256 - 2;
    private static final int CACHE_LIMIT = 20_000;
    private static final String WORD_END = "</w>";

    private static final Pattern PRE_TOKENIZER = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^\\s\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE);

    /** GPT-2's reversible byte → printable code point map. */
    private static final char[] BYTE_ENCODER = buildByteEncoder();

    private static final Map<Character, Integer> BYTE_DECODER = new HashMap<>(512);

    static {
        for (int b = 0; b < 256; b++) {
            BYTE_DECODER.put(BYTE_ENCODER[b], b);
        }
    }

    private final Map<String, Integer> vocab;
    private final String[] idToToken;
    private final Map<String, Integer> mergeRanks;
    private final ConcurrentHashMap<String, String[]> cache = new ConcurrentHashMap<>();
    private final String[] specialTokens;   // sorted longest first
    private final int bosId;
    private final int eosId;
    private final int unkId;
    private final int padId;
    private final int maxLength;

    private CLIPTokenizer(Map<String, Integer> vocab, List<String> merges, String bos, String eos, String unk,
                          String pad, int maxLength) {
        this.vocab = vocab;
        int maxId = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1);
        this.idToToken = new String[maxId + 1];
        vocab.forEach((k, v) -> idToToken[v] = k);
        this.mergeRanks = new HashMap<>(merges.size() * 2);
        for (int i = 0; i < merges.size(); i++) {
            mergeRanks.putIfAbsent(merges.get(i), i);
        }
        this.bosId = requireId(bos, "bos_token");
        this.eosId = requireId(eos, "eos_token");
        this.unkId = requireId(unk, "unk_token");
        this.padId = requireId(pad, "pad_token");
        this.specialTokens = java.util.stream.Stream.of(bos, eos, unk, pad).distinct()
                .sorted((a, b) -> b.length() - a.length()).toArray(String[]::new);
        if (maxLength < 2) {
            throw new IllegalArgumentException("CLIPTokenizer: model_max_length must be >= 2, got " + maxLength);
        }
        this.maxLength = maxLength;
    }

    private int requireId(String token, String what) {
        Integer id = vocab.get(token);
        if (id == null) {
            throw new IllegalArgumentException("CLIPTokenizer: " + what + " '" + token + "' is not in vocab.json");
        }
        return id;
    }

    /**
     * Loads a diffusers/HF {@code tokenizer/} folder: {@code vocab.json}, {@code merges.txt} and, when present,
     * {@code tokenizer_config.json} / {@code special_tokens_map.json} (BOS/EOS/pad/unk and
     * {@code model_max_length}; defaults: CLIP's tokens, pad = EOS, 77).
     *
     * @param folder the tokenizer folder
     * @return the tokenizer
     * @throws IOException if a file cannot be read or parsed
     */
    public static CLIPTokenizer load(Path folder) throws IOException {
        Path vocabFile = folder.resolve("vocab.json");
        Path mergesFile = folder.resolve("merges.txt");
        if (!Files.isRegularFile(vocabFile) || !Files.isRegularFile(mergesFile)) {
            throw new IOException("CLIPTokenizer.load: " + folder + " must contain vocab.json and merges.txt");
        }
        Map<String, Integer> vocab = new HashMap<>(65536);
        for (Map.Entry<String, Object> e : JSON.std.mapFrom(Files.readString(vocabFile)).entrySet()) {
            if (!(e.getValue() instanceof Number n)) {
                throw new IOException("vocab.json: value of '" + e.getKey() + "' is not a number");
            }
            vocab.put(e.getKey(), n.intValue());
        }
        List<String> merges = readMerges(mergesFile);

        Map<String, Object> config = new HashMap<>();
        Path special = folder.resolve("special_tokens_map.json");
        if (Files.isRegularFile(special)) {
            config.putAll(JSON.std.mapFrom(Files.readString(special)));
        }
        Path tokConfig = folder.resolve("tokenizer_config.json");
        if (Files.isRegularFile(tokConfig)) {
            // tokenizer_config.json wins where both define a key (its values are the init arguments).
            for (Map.Entry<String, Object> e : JSON.std.mapFrom(Files.readString(tokConfig)).entrySet()) {
                if (e.getValue() != null) {
                    config.put(e.getKey(), e.getValue());
                }
            }
        }
        String bos = tokenText(config.get("bos_token"), "<|startoftext|>");
        String eos = tokenText(config.get("eos_token"), "<|endoftext|>");
        String unk = tokenText(config.get("unk_token"), "<|endoftext|>");
        String pad = tokenText(config.get("pad_token"), eos);
        int maxLength = 77;
        if (config.get("model_max_length") instanceof Number n && n.doubleValue() < 1e6) {
            maxLength = n.intValue();   // absurdly large values mean "unset" in HF
        }
        return new CLIPTokenizer(vocab, merges, bos, eos, unk, pad, maxLength);
    }

    /**
     * Builds a tokenizer from in-memory data (tests, custom vocabularies).
     *
     * @param vocab     token → id
     * @param merges    merge rules in rank order, each {@code "first second"}
     * @param maxLength the encoder's context length (77 for CLIP)
     */
    public static CLIPTokenizer of(Map<String, Integer> vocab, List<String> merges, int maxLength) {
        return new CLIPTokenizer(new HashMap<>(vocab), List.copyOf(merges), "<|startoftext|>", "<|endoftext|>",
                "<|endoftext|>", "<|endoftext|>", maxLength);
    }

    private static String tokenText(Object value, String fallback) {
        if (value instanceof String s) {
            return s;
        }
        if (value instanceof Map<?, ?> m && m.get("content") instanceof String s) {
            return s;
        }
        return fallback;
    }

    /** HF reads merges.txt as: strip, split lines, drop line 0 (the "#version" header), keep {@link #MAX_MERGES}. */
    private static List<String> readMerges(Path file) throws IOException {
        String[] lines = Files.readString(file, StandardCharsets.UTF_8).strip().split("\n");
        List<String> merges = new ArrayList<>(Math.min(lines.length, MAX_MERGES));
        for (int i = 1; i < lines.length && merges.size() < MAX_MERGES; i++) {
            String line = lines[i].strip();
            int sp = line.indexOf(' ');
            if (sp <= 0 || sp == line.length() - 1 || line.indexOf(' ', sp + 1) >= 0) {
                throw new IOException("merges.txt line " + (i + 1) + " is not a pair: '" + lines[i] + "'");
            }
            merges.add(line);
        }
        return merges;
    }

    private static char[] buildByteEncoder() {
        char[] enc = new char[256];
        boolean[] printable = new boolean[256];
        for (int b = '!'; b <= '~'; b++) {
            printable[b] = true;
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            printable[b] = true;
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            printable[b] = true;
        }
        int n = 0;
        for (int b = 0; b < 256; b++) {
            enc[b] = printable[b] ? (char) b : (char) (256 + n++);
        }
        return enc;
    }

    /** BOS id (49406 for CLIP). */
    public int bosId() {
        return bosId;
    }

    /** EOS id (49407 for CLIP). */
    public int eosId() {
        return eosId;
    }

    /** The configured pad id (EOS for SD1.x folders, 0 for SD2 folders). */
    public int padId() {
        return padId;
    }

    /** Context length of the text encoder, including BOS and EOS (77). */
    public int maxLength() {
        return maxLength;
    }

    /** Number of entries in the vocabulary. */
    public int vocabSize() {
        return vocab.size();
    }

    /** The padding that the loaded configuration asks for. */
    public Padding defaultPadding() {
        return padId == eosId ? Padding.EOS : Padding.ZERO;
    }

    /** The id of a vocabulary token, or -1. */
    public int tokenId(String token) {
        Integer id = vocab.get(token);
        return id == null ? -1 : id;
    }

    /** The token string of an id, or null. */
    public String token(int id) {
        return id >= 0 && id < idToToken.length ? idToToken[id] : null;
    }

    /**
     * The text as the BPE sees it: ftfy fix-ups, whitespace collapsed and stripped, lower-cased.
     *
     * @param text raw prompt text (special-token texts are not treated specially here)
     */
    public static String clean(String text) {
        return TextFixer.whitespaceClean(TextFixer.fixText(text)).toLowerCase(Locale.ROOT);
    }

    /**
     * BPE token strings of a prompt (no BOS/EOS), e.g. {@code ["a</w>", "photograph</w>"]}.
     *
     * @param text the prompt
     */
    public List<String> tokens(String text) {
        if (text == null) {
            throw new IllegalArgumentException("CLIPTokenizer.tokens: text is null");
        }
        List<String> out = new ArrayList<>();
        int start = 0;
        int i = 0;
        while (i < text.length()) {
            String special = specialAt(text, i);
            if (special != null) {
                tokenizePiece(text.substring(start, i), out);
                out.add(special);
                i += special.length();
                start = i;
            } else {
                i++;
            }
        }
        tokenizePiece(text.substring(start), out);
        return out;
    }

    private String specialAt(String text, int i) {
        for (String s : specialTokens) {
            if (text.startsWith(s, i)) {
                return s;
            }
        }
        return null;
    }

    private void tokenizePiece(String piece, List<String> out) {
        if (piece.isEmpty()) {
            return;
        }
        String cleaned = clean(piece);
        Matcher m = PRE_TOKENIZER.matcher(cleaned);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            sb.setLength(0);
            for (byte b : m.group().getBytes(StandardCharsets.UTF_8)) {
                sb.append(BYTE_ENCODER[b & 0xFF]);
            }
            out.addAll(Arrays.asList(bpe(sb.toString())));
        }
    }

    /** Byte-pair merges of one pre-token (already in the byte alphabet); cached. */
    String[] bpe(String word) {
        String[] cached = cache.get(word);
        if (cached != null) {
            return cached;
        }
        List<String> symbols = new ArrayList<>(word.length());
        for (int i = 0; i < word.length(); ) {
            int n = Character.charCount(word.codePointAt(i));
            symbols.add(word.substring(i, i + n));
            i += n;
        }
        int last = symbols.size() - 1;
        symbols.set(last, symbols.get(last) + WORD_END);
        while (symbols.size() > 1) {
            int bestRank = Integer.MAX_VALUE;
            String bestFirst = null;
            String bestSecond = null;
            for (int i = 0; i + 1 < symbols.size(); i++) {
                Integer r = mergeRanks.get(symbols.get(i) + " " + symbols.get(i + 1));
                if (r != null && r < bestRank) {
                    bestRank = r;
                    bestFirst = symbols.get(i);
                    bestSecond = symbols.get(i + 1);
                }
            }
            if (bestFirst == null) {
                break;
            }
            // Merge every non-overlapping occurrence of the best pair, left to right.
            List<String> merged = new ArrayList<>(symbols.size());
            for (int i = 0; i < symbols.size(); i++) {
                if (i + 1 < symbols.size() && symbols.get(i).equals(bestFirst) && symbols.get(i + 1).equals(bestSecond)) {
                    merged.add(bestFirst + bestSecond);
                    i++;
                } else {
                    merged.add(symbols.get(i));
                }
            }
            symbols = merged;
        }
        String[] result = symbols.toArray(String[]::new);
        if (cache.size() >= CACHE_LIMIT) {
            cache.clear();   // crude bound; prompts repeat words, so the cache refills with what matters
        }
        cache.put(word, result);
        return result;
    }

    /**
     * Text of token ids (for messages such as "this part of the prompt was truncated"): BOS/EOS/pad ids are skipped,
     * {@code </w>} becomes a space, bytes are decoded as UTF-8 (invalid sequences become U+FFFD). The result is the
     * cleaned, lower-cased text, not the original prompt.
     *
     * @param ids token ids (unknown ids are skipped)
     * @return the text, stripped
     */
    public String decode(int[] ids) {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        for (int id : ids) {
            String t = token(id);
            if (t == null || id == bosId || id == eosId || id == padId) {
                continue;
            }
            boolean wordEnd = t.endsWith(WORD_END);
            if (wordEnd) {
                t = t.substring(0, t.length() - WORD_END.length());
            }
            for (int i = 0; i < t.length(); i++) {
                int b = BYTE_DECODER.getOrDefault(t.charAt(i), -1);
                if (b >= 0) {
                    bytes.write(b);
                }
            }
            if (wordEnd) {
                bytes.write(' ');
            }
        }
        return bytes.toString(StandardCharsets.UTF_8).strip();
    }

    /**
     * Token ids of a prompt, without BOS/EOS and without truncation.
     *
     * @param text the prompt
     */
    public int[] encode(String text) {
        List<String> toks = tokens(text);
        int[] ids = new int[toks.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = vocab.getOrDefault(toks.get(i), unkId);
        }
        return ids;
    }

    /**
     * The text-encoder input for a prompt: BOS + the first {@code maxLength - 2} ids + EOS + padding, exactly as
     * {@code tokenizer(prompt, padding="max_length", max_length=77, truncation=True)}.
     *
     * @param prompt  the prompt
     * @param padding EOS (SD1.x) or ZERO (SD2.x)
     */
    public Encoded inputIds(String prompt, Padding padding) {
        if (padding == null) {
            throw new IllegalArgumentException("CLIPTokenizer.inputIds: padding is null");
        }
        int[] ids = encode(prompt);
        int room = maxLength - 2;
        int n = Math.min(ids.length, room);
        return new Encoded(wrap(ids, 0, n, padding), ids.length, ids.length > room);
    }

    /** {@link #inputIds(String, Padding)} with the padding the loaded configuration asks for. */
    public Encoded inputIds(String prompt) {
        return inputIds(prompt, defaultPadding());
    }

    /**
     * BOS + {@code ids[from, to)} + EOS + padding to {@link #maxLength()}.
     *
     * @throws IllegalArgumentException if the range is invalid or longer than {@code maxLength - 2}
     */
    public int[] wrap(int[] ids, int from, int to, Padding padding) {
        if (from < 0 || to < from || to > ids.length || to - from > maxLength - 2) {
            throw new IllegalArgumentException("CLIPTokenizer.wrap: range [" + from + ", " + to + ") of " + ids.length
                    + " ids does not fit " + (maxLength - 2) + " tokens");
        }
        int[] out = new int[maxLength];
        Arrays.fill(out, padding == Padding.EOS ? eosId : 0);
        out[0] = bosId;
        System.arraycopy(ids, from, out, 1, to - from);
        out[1 + to - from] = eosId;
        return out;
    }

    /**
     * Long-prompt encoding as A1111/ComfyUI do it: the prompt is split at the keyword {@code BREAK}, tokenized, and cut
     * into chunks of {@code maxLength - 2} tokens, each wrapped as {@code BOS + chunk + EOS + padding}. The text
     * encoder runs on each chunk and the hidden states are concatenated along the token axis. An empty prompt gives
     * one chunk. Weights are ignored here; see {@link PromptWeighting} for the weighted variant.
     *
     * @param prompt  the prompt
     * @param padding EOS (SD1.x) or ZERO (SD2.x)
     * @return the chunks, each {@link #maxLength()} ids
     */
    public List<int[]> chunks(String prompt, Padding padding) {
        List<PromptWeighting.WeightedChunk> weighted =
                PromptWeighting.chunk(this, PromptWeighting.splitBreaks(prompt), padding, 0);
        List<int[]> out = new ArrayList<>(weighted.size());
        for (PromptWeighting.WeightedChunk c : weighted) {
            out.add(c.ids());
        }
        return out;
    }
}
