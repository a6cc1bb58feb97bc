"""Small SentencePiece unigram models (spiece.model only, no tokenizer.json) and the ids the
reference gives for them, for clip4j's SentencePiece reader (dev.clip4j.tokenize.SentencePieceModel).

  PYTHONPATH=/tmp/oc3/src:/tmp/ftfy:/tmp/stubs /usr/bin/python3 tools/reference/spiece_tokenizer.py OUT_DIR [TINY_SIGLIP_DIR]

(open_clip v2.32.0 src and ftfy v6.1.1 from their git mirrors, huggingface_hub stubbed: see
/work/shared/notes/reference-stack.md; only open_clip.tokenizer.get_clean_fn is used.)

Trains, with python3-sentencepiece (Debian), three models on a small mixed-script corpus:
  nfkc:   nmt_nfkc normalisation (its precompiled charsmap: full-width forms, ligatures,
          compatibility characters, odd whitespace), T5's ids (pad 0, eos 1, unk 2, no bos);
  ident:  identity normalisation (no charsmap), remove_extra_whitespaces off, sentencepiece's own
          default ids (unk 0, bos 1, eos 2, no pad; the tokenizer pads with '</s>');
  bytes:  byte_fallback (characters outside the vocabulary become <0xXX> pieces), normalised by a
          small custom rule table (RULES: a charsmap of a few hundred bytes, not nmt_nfkc's 237 KB).
Each goes to OUT_DIR/<name>/spiece.model with a tokenizer_config.json (T5Tokenizer, pad_token),
and OUT_DIR/<name>/tokens.json holds, for every text in TEXTS:
  raw: sentencepiece's own encode of the text, then '</s>' (what T5's tokenizer adds), no cleaning;
  and for clean in canonicalize/lower/whitespace and context 16 and 64: open_clip HFTokenizer's row,
  the text cleaned by open_clip's get_clean_fn(clean), sentencepiece's pieces, '</s>' appended,
  truncated to the context with '</s>' kept last, padded with the pad id (padding='max_length').

With TINY_SIGLIP_DIR (java/src/test/resources/dev/clip4j/model/siglip/tiny-siglip, written by
siglip_reference.py + siglip_tokenizer.py): retrains siglip_tokenizer.py's 64-piece model with its exact
settings, checks that its pieces and scores are those of that directory's tokenizer.json, and writes it
as OUT_DIR/tiny-siglip/spiece.model, so the tiny SigLIP can be loaded from spiece.model alone and its
text embeddings compared with the texts.npy open_clip wrote.
"""
import json
import os
import sys
import tempfile

import sentencepiece as spm
from open_clip.tokenizer import get_clean_fn

CORPUS = [
    "a photo of a cat", "a photo of a dog", "a picture of the sea at night", "two dogs playing in the snow",
    "an old red car parked near a house", "a bowl of fruit on a table", "the quick brown fox jumps over the lazy dog",
    "a diagram of a rocket engine", "people walking in a busy street", "a cup of coffee and a book",
    "mountains under a clear blue sky", "a small bird sitting on a branch", "1 2 3 4 5 6 7 8 9 0",
    "a black and white photo of a bridge", "children reading books in the library", "the city lights at dusk",
    "a close up of a flower with yellow petals", "a train crossing a river", "an empty road in the desert",
    "un chat noir sur le canapé", "une tasse de café au lait", "ein Hund läuft über die Straße",
    "der schöne Garten im Frühling", "el niño come una manzana", "la señora y el café",
    "猫が好きです", "犬と猫", "我喜欢猫和狗", "고양이와 개", "кошка и собака", "γάτα και σκύλος",
    "the fine office floor", "water H2O and CO2", "x squared plus one half", "100 kg of rice",
    "What a day!", "hello, world.", "it's a (small) test: yes; no?",
]

TEXTS = [
    "a photo of a cat",
    "",
    " ",
    "A PHOTO of a Dog!",
    "  two_dogs   playing,\tin the snow...  ",
    "the quick brown fox jumps over the lazy dog and keeps running far away from the old red car parked near a"
    " house while two dogs play in the snow under a clear blue sky and people walk in a busy street",
    "caf\u00e9 at night, na\u00efve fa\u00e7ade",
    "decomposed e\u0301 and a\u0300 and o\u0308",
    "\uff26\uff55\uff4c\uff4c\uff0d\uff57\uff49\uff44\uff54\uff48 \uff21\uff22\uff23 \uff11\uff12\uff13",
    "the \ufb01ne \ufb02ower of\ufb03ce",
    "x\u00b2 \u00bd \u210c \u338f \u2460 \u2163 \u2122",
    "non\u00a0breaking\u2003em\u2009thin\u3000ideographic\u200bzero-width",
    "emoji \U0001f431\U0001f436 \U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467 done",
    "\u732b\u304c\u597d\u304d\u3067\u3059 \u6211\u559c\u6b22\u732b \uace0\uc591\uc774",
    "mixed \u65e5\u672c\u8a9e and English text",
    "\u00c0\u00c9\u00ce\u00d5\u00dc UPPER accents",
    "tab\tnew\nline\r\nend",
    "an old &amp; red car (parked) near a house?",
    "\u043a\u043e\u0448\u043a\u0430 \u0438 \u0441\u043e\u0431\u0430\u043a\u0430 \u03b3\u03ac\u03c4\u03b1",
    "rare letters: \u00fe \u00f0 \u0142 \u0111 \u0127 qzj",
    "   leading and trailing   ",
    "1234567890 3.14159 1,000,000",
    "\u2581already\u2581escaped",
    "a" * 40,
]

MODELS = {
    "nfkc": dict(normalization_rule_name="nmt_nfkc", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, vocab_size=320,
                 character_coverage=1.0, byte_fallback=False),
    "ident": dict(normalization_rule_name="identity", unk_id=0, bos_id=1, eos_id=2, pad_id=-1, vocab_size=300,
                  character_coverage=1.0, byte_fallback=False, remove_extra_whitespaces=False),
    "bytes": dict(normalization_rule_tsv=None, pad_id=0, eos_id=1, unk_id=2, bos_id=-1, vocab_size=400,
                  character_coverage=0.98, byte_fallback=True),
}
# Custom normalisation rules (source code points -> target code points, hex), compiled by the trainer.
RULES = [("FF21", "41"), ("FF41", "61"), ("FB01", "66 69"), ("2460", "31"), ("00A0", "20"), ("3000", "20"),
         ("0041 030A", "C5"), ("2122", "54 4D")]
PAD_TOKEN = {"nfkc": "<pad>", "ident": "</s>", "bytes": "<pad>"}


def train(workdir, name, kw):
    # Relative names (the process runs in workdir): the trainer records them in trainer_spec, so the
    # written models are the same bytes on every run.
    os.chdir(workdir)
    corpus = "corpus.txt"
    with open(corpus, "w") as f:
        for _ in range(20):
            f.write("\n".join(CORPUS) + "\n")
    if "normalization_rule_tsv" in kw:
        tsv = "rules.tsv"
        with open(tsv, "w") as f:
            f.write("".join(f"{a}\t{b}\n" for a, b in RULES))
        kw = dict(kw, normalization_rule_tsv=tsv)
    prefix = name
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=prefix, model_type="unigram", split_by_whitespace=True, hard_vocab_limit=False,
        num_threads=1, seed_sentencepiece_size=2000, shuffle_input_sentence=False, **kw)
    return prefix + ".model"


def main(out):
    with tempfile.TemporaryDirectory() as work:
        for name, kw in MODELS.items():
            model = train(work, name, kw)
            sp = spm.SentencePieceProcessor(model_file=model)
            d = os.path.join(out, name)
            os.makedirs(d, exist_ok=True)
            with open(model, "rb") as f, open(os.path.join(d, "spiece.model"), "wb") as g:
                g.write(f.read())
            with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
                json.dump({"tokenizer_class": "T5Tokenizer", "pad_token": PAD_TOKEN[name], "eos_token": "</s>",
                           "unk_token": sp.id_to_piece(sp.unk_id()), "extra_ids": 0}, f, indent=1)
            eos = sp.piece_to_id("</s>")
            pad = sp.piece_to_id(PAD_TOKEN[name])
            cases = []
            for t in TEXTS:
                case = {"text": t, "raw": sp.encode(t, out_type=int) + [eos], "rows": []}
                for clean in ("canonicalize", "lower", "whitespace"):
                    cleaned = get_clean_fn(clean)(t)
                    pieces = sp.encode(cleaned, out_type=int)
                    for ctx in (16, 64):
                        ids = pieces[: ctx - 1] + [eos]
                        case["rows"].append({"clean": clean, "context": ctx, "ids": ids + [pad] * (ctx - len(ids))})
                cases.append(case)
            with open(os.path.join(d, "tokens.json"), "w") as f:
                json.dump({"pad_id": pad, "eos_id": eos, "pieces": sp.get_piece_size(), "cases": cases}, f,
                          ensure_ascii=True, separators=(",", ":"))
            unk = sum(1 for c in cases for i in c["raw"] if i == sp.unk_id())
            byte = sum(1 for c in cases for i in c["raw"] if sp.is_byte(i))
            print(name, "pieces", sp.get_piece_size(), "unk ids in raw", unk, "byte ids in raw", byte,
                  "model bytes", os.path.getsize(model))
        os.chdir(out)  # leave the work directory before it is removed


def tiny_siglip(out, fixture):
    # siglip_tokenizer.py's corpus and trainer settings (that script imports timm, so they are repeated here).
    corpus_lines = [
        "a photo of a cat", "a photo of a dog", "a picture of the sea at night", "two dogs playing in the snow",
        "an old red car parked near a house", "a bowl of fruit on a table",
        "the quick brown fox jumps over the lazy dog", "a diagram of a rocket engine",
        "people walking in a busy street", "a cup of coffee and a book", "mountains under a clear blue sky",
        "a small bird sitting on a branch", "1 2 3 4 5 6 7 8 9 0",
    ]
    with tempfile.TemporaryDirectory() as work:
        os.chdir(work)  # relative names in trainer_spec: the same bytes on every run
        corpus = "corpus.txt"
        with open(corpus, "w") as f:
            for _ in range(20):
                f.write("\n".join(corpus_lines) + "\n")
        prefix = "spm"
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=prefix, vocab_size=64, model_type="unigram", character_coverage=1.0,
            normalization_rule_name="identity", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, add_dummy_prefix=True,
            remove_extra_whitespaces=False, split_by_whitespace=True, hard_vocab_limit=True, num_threads=1,
            seed_sentencepiece_size=1000, shuffle_input_sentence=False)
        sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
        vocab = json.load(open(os.path.join(fixture, "tokenizer.json")))["model"]["vocab"]
        mine = [[sp.id_to_piece(i), 0.0 if sp.is_control(i) or sp.is_unknown(i) else sp.get_score(i)]
                for i in range(sp.get_piece_size())]
        assert mine == vocab, "retrained model differs from the fixture's tokenizer.json"
        d = os.path.join(out, "tiny-siglip")
        os.makedirs(d, exist_ok=True)
        with open(prefix + ".model", "rb") as f, open(os.path.join(d, "spiece.model"), "wb") as g:
            g.write(f.read())
        print("tiny-siglip pieces", sp.get_piece_size(), "same as", fixture)
        os.chdir(out)


if __name__ == "__main__":
    args = [os.path.abspath(a) for a in sys.argv[1:]]  # before the trainer's chdir
    main(args[0])
    if len(args) > 1:
        tiny_siglip(args[0], args[1])
