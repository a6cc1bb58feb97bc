#!/usr/bin/env python3
"""Reference outputs for clip4j's ftfy port (TextCleaner.fixText / FtfyEncoding / FtfyBadness).

Writes three test resources into OUT_DIR (java/src/test/resources/dev/clip4j/tokenize/):

  ftfy_suite.jsonl     ftfy 6.1.1's own tests/test_cases.json: for each of its 143 cases the
                       "original" text, ftfy.fix_text(original) and open_clip's token ids.
  ftfy_mojibake.jsonl  generated mojibake (UTF-8 read through single-byte code pages, once or
                       twice, lossy, with flattened no-break spaces, CESU-8, C1 controls,
                       inconsistent mixtures, HTML, several lines, chains where each repair
                       exposes the next) and random Unicode garbage, with ftfy.fix_text and
                       open_clip's token ids.
  ftfy_badness.tsv     short random strings over the characters of ftfy's badness heuristic:
                       is_bad (0/1) TAB the string as JSON.
  ftfy_classes.json    the character classes of ftfy's BADNESS_RE (as Python's regex parser
                       reads them) and of UTF8_DETECTOR_RE, as sorted code point lists.

ids are open_clip 2.20.0's tokenize([text], context_length=77) row up to and including its last
<end_of_text> (49407); the rest of the row is padding zeros. Strings are JSON (UTF-8, with lone
surrogates written as \\uXXXX escapes). Everything is seeded: reruns give the same files.

Run with Debian's python3 (3.11, torch 1.13) and the fetched sources (see
/work/shared/notes/reference-stack.md):
  PYTHONPATH=/tmp/oc/src:/tmp/ftfy:/tmp/stubs /usr/bin/python3 tools/reference/ftfy_cases.py \\
      /tmp/ftfy_test_cases.json java/src/test/resources/dev/clip4j/tokenize
where /tmp/ftfy_test_cases.json is `git show v6.1.1:tests/test_cases.json` of rspeer/python-ftfy.
"""
import html
import json
import os
import random
import re
import sys

import ftfy
from ftfy import badness, chardata
from open_clip.tokenizer import tokenize

assert ftfy.__version__ == "6.1.1", ftfy.__version__

EOT = 49407
SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(s):
    """JSON of a string, non-ASCII kept as UTF-8 except lone surrogates (escaped)."""
    text = json.dumps(s, ensure_ascii=False)
    return SURROGATE.sub(lambda m: "\\u%04x" % ord(m.group(0)), text)


def ids_of(text):
    row = tokenize([text], context_length=77)[0].tolist()
    last = max(i for i, v in enumerate(row) if v == EOT)
    assert all(v == 0 for v in row[last + 1:])
    return row[: last + 1]


def record(text, **extra):
    fixed = ftfy.fix_text(text)
    out = dict(extra)
    out.update({"text": text, "fix_text": fixed, "ids": ids_of(text)})
    return out


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            parts = []
            for k, v in row.items():
                parts.append(dumps(k) + ": " + (dumps(v) if isinstance(v, str) else json.dumps(v)))
            f.write("{" + ", ".join(parts) + "}\n")


# ----------------------------------------------------------------------------- ftfy's suite

def suite(cases_path):
    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)
    assert len(cases) == 143, len(cases)
    return [record(c["original"], label=c["label"]) for c in cases]


# ----------------------------------------------------------------------------- generated mojibake

TEXTS = [
    "café", "naïve résumé", "Crème brûlée à la carte", "São Paulo, Brasil", "Ærøskøbing",
    "Smörgåsbord für Jürgen", "Ça va? Où êtes-vous?", "Zürich – Genève", "El niño pidió más jalapeños",
    "Łódź, Gdańsk i Kraków", "Příliš žluťoučký kůň", "Čeština, Slovenčina", "Ünlü İstanbul ağaçları",
    "Ελληνικά γράμματα", "Русский текст: съешь же ещё этих мягких французских булок",
    "Українська мова — ґанок", "עברית טקסט", "العربية نص", "हिन्दी पाठ", "தமிழ் உரை", "ภาษาไทย",
    "日本語のテキスト", "中文文本测试", "한국어 텍스트", "Tiếng Việt có dấu", "Ελλάδα 2024",
    "“Curly quotes” and ‘single’ ones", "It’s 5 o’clock — time for tea…", "Price: €10, £8, ¥1000",
    "© 2024 Company™ — All rights reserved®", "Temperature: 25°C ± 0.5°", "½ cup of sugar, ¼ tsp salt",
    "x² + y³ = z¹", "µ-controller ×10", "ﬁne ﬂour in the oﬃce", "ＦＵＬＬ ｗｉｄｔｈ ｔｅｘｔ",
    "ﾊﾝｶｸ ｶﾀｶﾅ", "emoji 🐱🚀 party 🎉", "👍🏽 thumbs up", "🇫🇷 flag", "family: 👨‍👩‍👧",
    "♥ love ♦ diamonds ♣", "→ arrows ← ↑ ↓", "• bullet • list", "¿Qué pasa? ¡Nada!", "«Bonjour» dit-il",
    "„Anführungszeichen“", "Straße", "Ñandú", "Ångström", "ÀÉÎÕÜ capitals", "œuvre et Œdipe",
    "déjà vu", "à la mode", "voilà le travail", "piñata", "Ÿ and ÿ", "Š and š", "Ž and ž",
    "a\u00a0non-breaking\u00a0space", "mixed: naïve 日本 Ελλάδα", "math: ∑ ∫ √ ∞ ≈ ≠ ≤ ≥",
    "box: ┌─┐│└─┘", "kaomoji: (╯°□°)╯︵ ┻━┻", "¯\\_(ツ)_/¯", "ascii only text", "Dvořák's Symphony",
    "Ich möchte ein Brötchen", "Hôtel Côte d'Azur", "Weiß & Schwarz", "Ø Ö Ü ß",
    "mañana en Peñíscola", "Ваш заказ №12345", "Σίσυφος", "ÿþ BOM-ish", "\u00a0leading nbsp",
    "numbers ١٢٣ and ०१२", "Ω ohm", "A𝒥 math letters 𝕏", "tab\tseparated\tvalues",
]

DECODINGS = [
    "latin-1", "cp1252", "sloppy-windows-1252", "cp1250", "sloppy-windows-1250", "cp1251",
    "sloppy-windows-1251", "cp1253", "sloppy-windows-1253", "cp1254", "sloppy-windows-1254",
    "cp1255", "cp1256", "cp1257", "cp1258", "iso-8859-2", "iso-8859-15", "mac_roman", "cp437",
    "cp850", "cp866", "koi8_r",
]

SINGLE_BYTE = ["latin-1", "cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "iso-8859-2", "mac_roman", "cp437"]


def utf8_as(text, enc, rng):
    errors = rng.choice(["replace", "replace", "ignore"])
    return text.encode("utf-8").decode(enc, errors)


def cesu8(text):
    """CESU-8 / Java modified UTF-8 bytes: astral characters as surrogate pairs, NUL as C0 80."""
    out = bytearray()
    for ch in text:
        cp = ord(ch)
        if cp == 0:
            out += b"\xc0\x80"
        elif cp >= 0x10000:
            v = cp - 0x10000
            for s in (0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF)):
                out += bytes([0xE0 | (s >> 12), 0x80 | ((s >> 6) & 0x3F), 0x80 | (s & 0x3F)])
        else:
            out += ch.encode("utf-8")
    return bytes(out)


def mojibake_cases(rng, count):
    rows = []
    kinds = [
        "once", "twice", "cross", "nbsp", "lossy", "cesu", "c1", "mixed", "html", "lines",
        "ending", "garbage_alphabet", "garbage_bytes", "garbage_unicode", "chain",
    ]
    alphabet = sorted(set(alphabet_chars()) | set("abcxyzAEIOU .,!?'-\n&;#<>"))
    while len(rows) < count:
        kind = kinds[len(rows) % len(kinds)]
        t = rng.choice(TEXTS)
        if kind == "once":
            s = utf8_as(t, rng.choice(DECODINGS), rng)
        elif kind == "twice":
            s = utf8_as(utf8_as(t, rng.choice(DECODINGS), rng), rng.choice(DECODINGS), rng)
        elif kind == "cross":
            a, b = rng.choice(SINGLE_BYTE), rng.choice(SINGLE_BYTE)
            s = t.encode(a, "replace").decode(b, "replace")
        elif kind == "nbsp":
            s = utf8_as(t + rng.choice([" à la", "\u00a0", " à ", " às ", " à quel", "\u00e0 "]), rng.choice(["latin-1", "cp1252", "sloppy-windows-1252"]), rng)
            s = s.replace("\u00a0", " ") if rng.random() < 0.8 else s
        elif kind == "lossy":
            s = t.encode("utf-8").decode(rng.choice(["cp1252", "cp1250", "cp1251", "cp1253"]), "replace")
            if rng.random() < 0.5:
                s = s.replace("\ufffd", "?", rng.randint(1, 2))
        elif kind == "cesu":
            src = rng.choice([x for x in TEXTS if any(ord(c) > 0xFFFF for c in x)] + ["nul\x00byte"])
            s = cesu8(src).decode(rng.choice(["latin-1", "sloppy-windows-1252", "sloppy-windows-1250"]))
        elif kind == "c1":
            s = t.encode("cp1252", "replace").decode("latin-1")
            if rng.random() < 0.5:
                s = "“%s”" .encode("cp1252").decode("latin-1") % s
        elif kind == "mixed":
            u = rng.choice(TEXTS)
            m = utf8_as(u, rng.choice(["latin-1", "cp1252", "sloppy-windows-1252", "cp1251", "mac_roman"]), rng)
            s = rng.choice(["%s %s", "%s: %s", "%s%s", "%s — %s"]) % ((t, m) if rng.random() < 0.5 else (m, t))
        elif kind == "html":
            m = utf8_as(t, rng.choice(["latin-1", "cp1252"]), rng)
            s = rng.choice([
                html.escape(m), m.replace("é", "&eacute;"), "&lt;p&gt;" + m, "<b>" + m + "</b> &amp; more",
                "".join("&#%d;" % ord(c) if ord(c) > 127 and rng.random() < 0.5 else c for c in m),
                m.upper().replace("Ã", "&ATILDE;"),
            ])
        elif kind == "lines":
            parts = [rng.choice([t, utf8_as(rng.choice(TEXTS), rng.choice(DECODINGS), rng), "<br> &amp;", "plain &amp; line"]) for _ in range(rng.randint(2, 4))]
            s = rng.choice(["\n", "\r\n", "\r", "\u2028"]).join(parts)
        elif kind == "ending":
            # UTF-8 read as Latin-1 ending right before a newline (ftfy's "$" quirks), or a C0 byte.
            s = utf8_as(rng.choice(TEXTS), "latin-1", rng) + rng.choice(["À", "\u00ed\u00a0\u0080\u00ed\u00b0", "Ã", ""]) + "\n" + rng.choice(["next line", "", "À"])
        elif kind == "garbage_alphabet":
            s = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
        elif kind == "garbage_bytes":
            n = rng.randint(1, 30)
            raw = bytes(rng.choice([rng.randint(0x80, 0xFF), rng.randint(0x20, 0x7E), 0xC3, 0xC2, 0xE2, 0xED, 0xC0, 0x1A, 0x20, 0xA0]) for _ in range(n))
            s = raw.decode(rng.choice(DECODINGS), "replace")
        elif kind == "chain":
            # Mojibake where each repair exposes the next (ftfy needs one round per unit), or HTML
            # escaped several times over.
            unit = rng.choice(["Ãƒ©", "Ã©©€", "Ãƒ€", "ÃƒÂ©", "Šƒ©", "Ã©ƒ", "&amp;"])
            s = rng.choice(["", "x ", t + " "]) + unit * rng.randint(1, 40) + rng.choice(["", " y", "lt;"])
        else:
            s = random_unicode(rng)
        rows.append(record(s, kind=kind))
    return rows


# Blocks with no character assigned after Unicode 13.0 (checked against DerivedAge.txt): Java 17
# knows Unicode 13 while Python 3.11 knows 14, and the tokenizer's letter classes follow them.
STABLE_BLOCKS = [
    (0x80, 0x52F), (0x1E00, 0x1FFF), (0x2000, 0x209F), (0x20A0, 0x20BF), (0x2100, 0x27FF),
    (0x3000, 0x30FF), (0x4E00, 0x9FFC), (0xAC00, 0xD7A3), (0xE000, 0xF8FF), (0xFB00, 0xFB4F),
    (0xFF00, 0xFFEF), (0x1D400, 0x1D7FF), (0x1F300, 0x1F5FF), (0x20000, 0x2A6DD),
    (0x40000, 0x4FFFF), (0xF0000, 0xFFFFD),
]


def random_unicode(rng):
    out = []
    for _ in range(rng.randint(1, 20)):
        r = rng.random()
        if r < 0.3:
            cp = rng.randint(0x20, 0x7E)
        elif r < 0.6:
            cp = rng.randint(0x80, 0x24F)
        elif r < 0.95:
            lo, hi = rng.choice(STABLE_BLOCKS)
            cp = rng.randint(lo, hi)
        else:
            cp = rng.randint(0, 0x1F)
        out.append(chr(cp))
    s = "".join(out)
    if rng.random() < 0.1:  # one lone surrogate, not next to another surrogate
        pos = rng.randint(0, len(s))
        s = s[:pos] + chr(rng.choice([0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0xD83D])) + " " + s[pos:]
    return s


# ----------------------------------------------------------------------------- badness

def alphabet_chars():
    chars = set()
    for item in badness.MOJIBAKE_CATEGORIES.values():
        # expand "x-y" ranges as the regex does
        i = 0
        while i < len(item):
            if i + 2 < len(item) and item[i + 1] == "-":
                chars.update(chr(c) for c in range(ord(item[i]), ord(item[i + 2]) + 1))
                i += 3
            else:
                chars.add(item[i])
                i += 1
    chars.update("ÂÃÎÐØÙ×à√≈‚Äâóàä°êвЂВГРСГўВЂВΒΓΞΟβ€ŸŠ®°µ»ŒœΆ")
    return sorted(chars)


def badness_cases(rng, count):
    letters = alphabet_chars()
    extra = list("abcxyzABCXYZ .,?!_1\n\t") + ["\u3000", "\u00a0", "\u2028", "\U0001D4A5", "日", "\u0301"]
    pool = letters + extra * 4
    rows = []
    while len(rows) < count:
        s = "".join(rng.choice(pool) for _ in range(rng.randint(1, 7)))
        rows.append((1 if badness.is_bad(s) else 0, s))
    return rows


def regex_classes():
    """BADNESS_RE's alternatives as sequences of classes, in the form FtfyBadness.describe() uses.

    A class is a sorted list of code points, or the name of a predicate: WORD (\\w),
    ANY_BUT_NEWLINE (.), NOT_ASCII_LETTER ([^A-Za-z]). \\s is expanded to its code points. The
    alternative anchored with ^ is returned apart; the one with \\s? becomes two (without, with).
    """
    try:
        import re._parser as sre_parse
    except ImportError:  # Python < 3.11
        import sre_parse
    space = [c for c in range(0x110000) if re.match(r"\s", chr(c))]

    def element(op, av):
        name = str(op)
        if name == "LITERAL":
            return [av]
        if name == "ANY":
            return "ANY_BUT_NEWLINE"
        assert name == "IN", name
        members, negate = set(), False
        for o, a in av:
            o = str(o)
            if o == "LITERAL":
                members.add(a)
            elif o == "RANGE":
                members.update(range(a[0], a[1] + 1))
            elif o == "NEGATE":
                negate = True
            elif o == "CATEGORY" and str(a) == "CATEGORY_SPACE":
                members.update(space)
            elif o == "CATEGORY" and str(a) == "CATEGORY_WORD":
                assert len(av) == 1
                return "WORD"
            else:
                raise ValueError(o)
        if negate:
            assert members == set(range(ord("A"), ord("Z") + 1)) | set(range(ord("a"), ord("z") + 1))
            return "NOT_ASCII_LETTER"
        return sorted(members)

    parsed = sre_parse.parse(badness.BADNESS_RE.pattern, re.VERBOSE)
    (op, (_, branches)), = parsed.data
    assert str(op) == "BRANCH"
    alternatives, anchored = [], None
    for branch in branches:
        seqs = [[]]
        is_anchored = False
        for op, av in branch.data:
            if str(op) == "AT":
                assert str(av) == "AT_BEGINNING"
                is_anchored = True
            elif str(op) == "MAX_REPEAT":
                lo, hi, sub = av
                assert (lo, hi) == (0, 1) and len(sub.data) == 1
                opt = element(*sub.data[0])
                seqs = [q for s in seqs for q in (s, s + [opt])]
            else:
                e = element(op, av)
                seqs = [s + [e] for s in seqs]
        if is_anchored:
            anchored = seqs[0]
        else:
            alternatives.extend(seqs)
    clues = chardata.UTF8_CLUES

    def chars(spec):
        out, i = set(), 0
        while i < len(spec):
            if i + 2 < len(spec) and spec[i + 1] == "-":
                out.update(range(ord(spec[i]), ord(spec[i + 2]) + 1))
                i += 3
            else:
                out.add(ord(spec[i]))
                i += 1
        return sorted(out)

    detector = [chars(clues[k]) for k in ("utf8_first_of_2", "utf8_first_of_3", "utf8_first_of_4",
                                          "utf8_continuation", "utf8_continuation_strict")]
    return {"badness": alternatives, "badness_anchored": anchored, "utf8_detector": detector}


def main():
    cases_path, out_dir = sys.argv[1], sys.argv[2]
    rng = random.Random(20261202)
    write_jsonl(os.path.join(out_dir, "ftfy_suite.jsonl"), suite(cases_path))
    write_jsonl(os.path.join(out_dir, "ftfy_mojibake.jsonl"), mojibake_cases(rng, 600))
    with open(os.path.join(out_dir, "ftfy_badness.tsv"), "w", encoding="utf-8", newline="\n") as f:
        f.write("# is_bad TAB text (JSON); ftfy 6.1.1 badness.is_bad, tools/reference/ftfy_cases.py\n")
        for bad, s in badness_cases(rng, 4000):
            f.write("%d\t%s\n" % (bad, dumps(s)))
    with open(os.path.join(out_dir, "ftfy_classes.json"), "w", encoding="ascii", newline="\n") as f:
        json.dump(regex_classes(), f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
