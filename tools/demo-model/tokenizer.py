"""A small CLIP-format byte-level BPE vocabulary (vocab.json + merges.txt) learnt from the caption words.

Layout as CLIP's: the 256 byte symbols, the same with ``</w>``, then one token per merge, then
``<|startoftext|>`` and ``<|endoftext|>`` (the last two ids). Every caption word becomes a single token.
"""
import json
import os
import re


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map (the alphabet of CLIP's BPE)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def learn(words):
    """Merges (in rank order) that turn each word into one symbol: most frequent pair first, ties by text."""
    enc = bytes_to_unicode()
    seqs = {}
    for w in words:
        sym = [enc[b] for b in w.encode("utf-8")]
        sym[-1] += "</w>"
        seqs[w] = sym
    merges = []
    while True:
        counts = {}
        for sym in seqs.values():
            for a, b in zip(sym, sym[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            return merges
        best = min(counts, key=lambda p: (-counts[p], p))
        merges.append(best)
        for w, sym in seqs.items():
            out, i = [], 0
            while i < len(sym):
                if i + 1 < len(sym) and (sym[i], sym[i + 1]) == best:
                    out.append(sym[i] + sym[i + 1])
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            seqs[w] = out


def build_vocab(merges):
    enc = bytes_to_unicode()
    tokens = list(enc.values())
    tokens += [t + "</w>" for t in tokens]
    for a, b in merges:
        tokens.append(a + b)
    tokens += [BOS, EOS]
    return {t: i for i, t in enumerate(tokens)}


class Tokenizer:
    """CLIP's encoding (lower-case, regex pre-split, lowest-rank merge first), enough for our captions."""

    def __init__(self, vocab, merges, max_length=24):
        self.vocab = vocab
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.max_length = max_length
        self.enc = bytes_to_unicode()
        self.pat = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+")

    def bpe(self, word):
        sym = [self.enc[b] for b in word.encode("utf-8")]
        sym[-1] += "</w>"
        while len(sym) > 1:
            pairs = [(self.ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(sym, sym[1:]))]
            r, i = min(pairs)
            if r == 1 << 30:
                break
            first, second = sym[i], sym[i + 1]
            out, j = [], 0
            while j < len(sym):   # merge every occurrence of the pair, as CLIP does
                if j + 1 < len(sym) and sym[j] == first and sym[j + 1] == second:
                    out.append(first + second)
                    j += 2
                else:
                    out.append(sym[j])
                    j += 1
            sym = out
        return sym

    def ids(self, text):
        """max_length ids: BOS, tokens, EOS, EOS padding (SD 1.x)."""
        toks = []
        for w in self.pat.findall(" ".join(text.lower().split())):
            toks += [self.vocab.get(s, self.vocab[EOS]) for s in self.bpe(w)]
        toks = [self.vocab[BOS]] + toks[: self.max_length - 2] + [self.vocab[EOS]]
        return toks + [self.vocab[EOS]] * (self.max_length - len(toks))


def write(folder, words):
    """Writes the tokenizer folder and returns a Tokenizer for it."""
    merges = learn(words)
    vocab = build_vocab(merges)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(a + " " + b + "\n")
    special = {"bos_token": BOS, "eos_token": EOS, "pad_token": EOS, "unk_token": EOS}
    with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
    cfg = dict(special, add_prefix_space=False, do_lower_case=True, errors="replace", model_max_length=24,
               tokenizer_class="CLIPTokenizer")
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    tok = Tokenizer(vocab, merges)
    for w in words:
        assert len(tok.bpe(w)) == 1 and tok.bpe(w)[0] in vocab, (w, tok.bpe(w))
    return tok
