package dev.diffusion4j.nn.clip;

import dev.diffusion4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * AUTOMATIC1111-style prompt emphasis and long-prompt chunking.
 *
 * <h2>Syntax ({@link #parse})</h2>
 * <ul>
 *   <li>{@code (text)} multiplies the weight of {@code text} by 1.1; {@code [text]} divides it by 1.1;</li>
 *   <li>{@code (text:1.3)} multiplies it by 1.3 (the number may be signed or fractional);</li>
 *   <li>nesting multiplies: {@code ((a))} = 1.21, {@code ((a):1.5)} = 1.65;</li>
 *   <li>{@code \( \) \[ \] \\} are literal characters; an unmatched {@code )} or {@code ]} is literal text;
 *       brackets still open at the end apply to everything after them;</li>
 *   <li>the word {@code BREAK} (upper case, on its own) ends the current 75-token chunk.</li>
 * </ul>
 * Adjacent segments with the same weight are merged. Weights are computed in double precision (as Python floats) and
 * stored as float.
 *
 * <h2>Tokens and weights</h2>
 * Each segment is tokenized on its own ({@link CLIPTokenizer#encode}) and every token gets its segment's weight;
 * BOS, EOS and padding get 1.0. {@link #chunk} cuts the token stream into chunks of {@code maxLength - 2} tokens
 * (optionally moving the tail after the last comma into the next chunk, A1111's "comma padding backtrack").
 *
 * <h2>Applying the weights ({@link #applyWeights})</h2>
 * After the text encoder produced {@code z} ({@code [tokens, dim]}) for a chunk:
 * <pre>
 *   mean0 = mean(z)                       // over all tokens and channels
 *   z[t, :] = z[t, :] · w[t]              // each token's embedding scaled by its weight
 *   z = z · (mean0 / mean(z))             // rescaled so the overall mean is unchanged
 * </pre>
 * which is A1111's emphasis formula ("Original" mode). Chunk outputs are then concatenated along the token axis
 * ({@link CLIPTextModel#encodeChunks}). ComfyUI parses the same syntax but applies weights differently (it
 * interpolates from the empty prompt's encoding, {@code z_empty + w·(z - z_empty)}, without mean rescaling); that
 * variant is not implemented here.
 */
public final class PromptWeighting {
    private PromptWeighting() {
    }

    /** Weight factor of {@code (...)}. */
    public static final double ROUND_BRACKET = 1.1;
    /** Weight factor of {@code [...]}. */
    public static final double SQUARE_BRACKET = 1 / 1.1;

    /**
     * A run of prompt text with one weight, or a chunk break.
     *
     * @param text    the text (empty for breaks)
     * @param weight  the emphasis weight
     * @param isBreak whether this is a {@code BREAK} marker
     */
    public record Segment(String text, float weight, boolean isBreak) {
        /** A text segment. */
        public Segment(String text, float weight) {
            this(text, weight, false);
        }

        /** A {@code BREAK} marker. */
        public static Segment breakMarker() {
            return new Segment("", 1.0f, true);
        }
    }

    /**
     * One text-encoder input with per-token weights.
     *
     * @param ids     {@code maxLength} ids (BOS, tokens, EOS, padding)
     * @param weights {@code maxLength} weights (1.0 at BOS, EOS and padding)
     */
    public record WeightedChunk(int[] ids, float[] weights) {
    }

    private static final Pattern ATTENTION = Pattern.compile(
            "\\\\\\(|\\\\\\)|\\\\\\[|\\\\]|\\\\\\\\|\\\\|\\(|\\[|:\\s*([+-]?[.0-9]+)\\s*\\)|\\)|]|[^\\\\()\\[\\]:]+|:");
    private static final Pattern BREAK = Pattern.compile("\\s*\\bBREAK\\b\\s*");

    /** A mutable segment while parsing. */
    private static final class Part {
        String text;
        double weight;
        final boolean isBreak;

        Part(String text, double weight, boolean isBreak) {
            this.text = text;
            this.weight = weight;
            this.isBreak = isBreak;
        }
    }

    /**
     * Parses A1111 emphasis syntax into weighted segments (see the class comment). Never fails: malformed syntax is
     * kept as text.
     *
     * @param prompt the prompt
     * @return the segments in order; {@code [("", 1.0)]} for an empty prompt
     */
    public static List<Segment> parse(String prompt) {
        if (prompt == null) {
            throw new IllegalArgumentException("PromptWeighting.parse: prompt is null");
        }
        List<Part> res = new ArrayList<>();
        ArrayList<Integer> round = new ArrayList<>();
        ArrayList<Integer> square = new ArrayList<>();
        Matcher m = ATTENTION.matcher(prompt);
        while (m.find()) {
            String tok = m.group();
            String weight = m.group(1);
            Double parsedWeight = null;
            if (weight != null) {
                try {
                    parsedWeight = Double.parseDouble(weight);
                } catch (NumberFormatException e) {
                    parsedWeight = null;   // e.g. "1.2.3": A1111 would crash; keep it as text instead
                }
            }
            if (tok.startsWith("\\")) {
                res.add(new Part(tok.substring(1), 1.0, false));
            } else if (tok.equals("(")) {
                round.add(res.size());
            } else if (tok.equals("[")) {
                square.add(res.size());
            } else if (parsedWeight != null && !round.isEmpty()) {
                multiplyFrom(res, round.removeLast(), parsedWeight);
            } else if (tok.equals(")") && !round.isEmpty()) {
                multiplyFrom(res, round.removeLast(), ROUND_BRACKET);
            } else if (tok.equals("]") && !square.isEmpty()) {
                multiplyFrom(res, square.removeLast(), SQUARE_BRACKET);
            } else {
                String[] parts = BREAK.split(tok, -1);
                for (int i = 0; i < parts.length; i++) {
                    if (i > 0) {
                        res.add(new Part("", 1.0, true));
                    }
                    res.add(new Part(parts[i], 1.0, false));
                }
            }
        }
        for (int pos : round) {
            multiplyFrom(res, pos, ROUND_BRACKET);
        }
        for (int pos : square) {
            multiplyFrom(res, pos, SQUARE_BRACKET);
        }
        if (res.isEmpty()) {
            res.add(new Part("", 1.0, false));
        }
        // Merge neighbours with identical weight (A1111 compares the double weights exactly).
        List<Part> merged = new ArrayList<>();
        for (Part p : res) {
            Part prev = merged.isEmpty() ? null : merged.getLast();
            if (prev != null && !prev.isBreak && !p.isBreak && prev.weight == p.weight) {
                prev.text = prev.text + p.text;
            } else {
                merged.add(p);
            }
        }
        List<Segment> out = new ArrayList<>(merged.size());
        for (Part p : merged) {
            out.add(p.isBreak ? Segment.breakMarker() : new Segment(p.text, (float) p.weight));
        }
        return out;
    }

    private static void multiplyFrom(List<Part> res, int start, double factor) {
        for (int i = start; i < res.size(); i++) {
            if (!res.get(i).isBreak) {
                res.get(i).weight *= factor;
            }
        }
    }

    /**
     * Splits plain text at the {@code BREAK} keyword (no emphasis parsing).
     *
     * @param prompt the prompt
     * @return text segments of weight 1 with break markers between them
     */
    public static List<Segment> splitBreaks(String prompt) {
        List<Segment> out = new ArrayList<>();
        String[] parts = BREAK.split(prompt, -1);
        for (int i = 0; i < parts.length; i++) {
            if (i > 0) {
                out.add(Segment.breakMarker());
            }
            out.add(new Segment(parts[i], 1.0f));
        }
        return out;
    }

    /**
     * Tokenizes weighted segments and cuts them into text-encoder chunks.
     *
     * @param tokenizer      the tokenizer
     * @param segments       from {@link #parse} or {@link #splitBreaks}
     * @param padding        EOS (SD1.x) or ZERO (SD2.x)
     * @param commaBacktrack when a chunk is full and its last comma is at most this many tokens back, the tokens
     *                       after that comma move to the next chunk (A1111 default 20; 0 = off, ComfyUI)
     * @return at least one chunk
     */
    public static List<WeightedChunk> chunk(CLIPTokenizer tokenizer, List<Segment> segments,
                                            CLIPTokenizer.Padding padding, int commaBacktrack) {
        if (tokenizer == null || segments == null || padding == null) {
            throw new IllegalArgumentException("PromptWeighting.chunk: tokenizer, segments and padding are required");
        }
        if (commaBacktrack < 0) {
            throw new IllegalArgumentException("PromptWeighting.chunk: commaBacktrack must be >= 0, got " + commaBacktrack);
        }
        int chunkLength = tokenizer.maxLength() - 2;
        int comma = tokenizer.tokenId(",</w>");
        List<WeightedChunk> chunks = new ArrayList<>();
        ChunkBuilder cur = new ChunkBuilder(chunkLength);
        int lastComma = -1;
        for (Segment seg : segments) {
            if (seg.isBreak()) {
                chunks.add(cur.finish(tokenizer, padding));
                cur = new ChunkBuilder(chunkLength);
                lastComma = -1;
                continue;
            }
            for (int token : tokenizer.encode(seg.text())) {
                if (token == comma && comma >= 0) {
                    lastComma = cur.size;
                } else if (commaBacktrack > 0 && cur.size == chunkLength && lastComma != -1
                        && cur.size - lastComma <= commaBacktrack) {
                    int cut = lastComma + 1;
                    ChunkBuilder next = new ChunkBuilder(chunkLength);
                    for (int i = cut; i < cur.size; i++) {
                        next.add(cur.ids[i], cur.weights[i]);
                    }
                    cur.size = cut;
                    chunks.add(cur.finish(tokenizer, padding));
                    cur = next;
                    lastComma = -1;
                }
                if (cur.size == chunkLength) {
                    chunks.add(cur.finish(tokenizer, padding));
                    cur = new ChunkBuilder(chunkLength);
                    lastComma = -1;
                }
                cur.add(token, seg.weight());
            }
        }
        if (cur.size > 0 || chunks.isEmpty()) {
            chunks.add(cur.finish(tokenizer, padding));
        }
        return chunks;
    }

    /**
     * Weighted encoding of a prompt in A1111 syntax.
     *
     * @param tokenizer the tokenizer
     * @param prompt    the prompt with emphasis syntax
     * @param padding   EOS (SD1.x) or ZERO (SD2.x)
     * @param chunked   true: all tokens in 75-token chunks (BREAK honoured, no comma backtracking); false: one
     *                  chunk, tokens beyond 75 dropped and BREAK ignored (diffusers' truncation)
     * @return the chunks (exactly one when not chunked)
     */
    public static List<WeightedChunk> encode(CLIPTokenizer tokenizer, String prompt, CLIPTokenizer.Padding padding,
                                             boolean chunked) {
        List<Segment> segments = parse(prompt);
        if (chunked) {
            return chunk(tokenizer, segments, padding, 0);
        }
        int chunkLength = tokenizer.maxLength() - 2;
        ChunkBuilder cur = new ChunkBuilder(chunkLength);
        for (Segment seg : segments) {
            if (seg.isBreak()) {
                continue;
            }
            for (int token : tokenizer.encode(seg.text())) {
                if (cur.size < chunkLength) {
                    cur.add(token, seg.weight());
                }
            }
        }
        return List.of(cur.finish(tokenizer, padding));
    }

    private static final class ChunkBuilder {
        final int[] ids;
        final float[] weights;
        int size;

        ChunkBuilder(int capacity) {
            ids = new int[capacity];
            weights = new float[capacity];
        }

        void add(int id, float w) {
            ids[size] = id;
            weights[size] = w;
            size++;
        }

        WeightedChunk finish(CLIPTokenizer tokenizer, CLIPTokenizer.Padding padding) {
            int[] wrapped = tokenizer.wrap(ids, 0, size, padding);
            float[] w = new float[wrapped.length];
            Arrays.fill(w, 1.0f);
            System.arraycopy(weights, 0, w, 1, size);
            return new WeightedChunk(wrapped, w);
        }
    }

    /**
     * Applies token weights to text-encoder output with A1111's mean-preserving formula (see the class comment).
     *
     * @param hidden  {@code [tokens, dim]} or {@code [1, tokens, dim]} hidden states of one chunk
     * @param weights one weight per token
     * @return a new F32 tensor of the same shape
     * @throws IllegalArgumentException if the shapes do not match or the weighted mean is zero
     */
    public static Tensor applyWeights(Tensor hidden, float[] weights) {
        int rank = hidden.rank();
        if ((rank != 2 && rank != 3) || (rank == 3 && hidden.dim(0) != 1)) {
            throw new IllegalArgumentException("PromptWeighting.applyWeights: hidden must be [tokens, dim] or "
                    + "[1, tokens, dim], got " + hidden.shape());
        }
        int tokens = hidden.dim(-2);
        int dim = hidden.dim(-1);
        if (weights == null || weights.length != tokens) {
            throw new IllegalArgumentException("PromptWeighting.applyWeights: " + (weights == null ? "null" : weights.length)
                    + " weights for hidden " + hidden.shape());
        }
        float[] z = hidden.toFloatArray();
        double mean0 = 0;
        for (float v : z) {
            mean0 += v;
        }
        mean0 /= z.length;
        double mean1 = 0;
        for (int t = 0; t < tokens; t++) {
            float w = weights[t];
            for (int c = 0, i = t * dim; c < dim; c++, i++) {
                z[i] *= w;
                mean1 += z[i];
            }
        }
        mean1 /= z.length;
        if (mean1 == 0) {
            throw new IllegalArgumentException("PromptWeighting.applyWeights: weighted mean is 0, cannot rescale");
        }
        float s = (float) (mean0 / mean1);
        for (int i = 0; i < z.length; i++) {
            z[i] *= s;
        }
        int[] dims = rank == 2 ? new int[] {tokens, dim} : new int[] {1, tokens, dim};
        return Tensor.of(z, dims);
    }
}
