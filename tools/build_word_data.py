"""Rebuilds two data files of `src/assistant/data/` from published word lists (run by hand, not at install):

- `common_words.txt`: Italian and English words with a Zipf frequency ≥ 4.0 in `wordfreq` (data CC BY-SA 4.0,
  by Robyn Speer and contributors). A capitalised common word in a question ("il Media Day", "la Bibbia") is
  not a proper name the answer must contain.
- `places.json`: every country of Unicode CLDR (via `babel`) is added with its Italian and English names;
  existing rows (with their hand-written adjectives) are kept.

    pip install wordfreq babel && python tools/build_word_data.py
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "src" / "assistant" / "data"
MIN_ZIPF = 4.0
NOT_COUNTRIES = {"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ", "AQ", "IC", "EA", "DG", "CP", "AC", "TA", "BV", "HM",
                 "UM", "CQ", "PS"}  # PS: "Palestina" is already a row


def norm(word: str) -> str:
    word = re.sub(r"\s*\(.*?\)", "", word).replace("’", "'")
    return "".join(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn")


def common_words() -> list[str]:
    from wordfreq import iter_wordlist, zipf_frequency

    out: set[str] = set()
    for lang in ("it", "en"):
        for w in iter_wordlist(lang):
            if zipf_frequency(w, lang) < MIN_ZIPF:
                break
            if w.isalpha():
                out.add(norm(w))
    return sorted(out)


def countries(existing: list[dict]) -> list[dict]:
    from babel import Locale

    it, en = Locale("it").territories, Locale("en").territories
    known = {norm(n) for row in existing for n in (row["name"], row["en"])}
    added = []
    for code, name in sorted(it.items()):
        if len(code) != 2 or not code.isalpha() or code in NOT_COUNTRIES or code not in en:
            continue
        if norm(name) in known or norm(en[code]) in known:
            continue
        name = re.sub(r"\s*\(.*?\)", "", name).replace("’", "'")
        added.append({"name": name, "en": re.sub(r"\s*\(.*?\)", "", en[code]).replace("’", "'"),
                      "adjectives": []})
        known |= {norm(name), norm(en[code])}
    return added


def main() -> int:
    words = common_words()
    (DATA / "common_words.txt").write_text(
        "# Zipf >= 4.0 in wordfreq (it, en); CC BY-SA 4.0. Built by tools/build_word_data.py\n"
        + "\n".join(words) + "\n", encoding="utf-8")
    places_path = DATA / "places.json"
    data = json.loads(places_path.read_text(encoding="utf-8"))
    added = countries(data["places"])
    data["places"].extend(added)
    places_path.write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"{len(words)} common words; {len(added)} countries added", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
