"""What a language may attach to a name, so the matcher finds ``अमितला`` ("to Amit") as Amit.

Many languages write grammar onto names: Marathi postpositions (अमितला, प्रियाने, अमितचा),
Hebrew proclitics (ולמיכל), the German genitive (Ottilies). A name followed by a listed suffix, or
preceded by a listed prefix, is the name: pseudonymisation replaces the name and keeps the affix
(``P02ला``, ``ולP01``, ``P01s``) and the leak gate counts it as a hit. The rules are per language and
script; the shipped defaults below cover the demo studies' languages, and a study adds or extends a
language under ``affixes:`` in config.yaml (config/README.md, "Names in inflected languages").

A language listed here with empty lists is a language *with* rules: its names stand alone (or attach
through an apostrophe, ``n'Okello``, which is a word boundary already). A study language that is
listed nowhere has no rules, and the leak gate then treats any name at the start of a longer word
in its text as a hit (fail safe) until the language's affixes are configured.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

# How many suffixes (prefixes) may stack on one name: Marathi अमित+च्या+कडे+ही, Hebrew ו+ל+מ.
MAX_STACK = 3

# Marathi (Devanagari). Postpositions and clitics are written joined to the noun. A consonant-final
# name may take the oblique vowel ा before them (रामाला beside रामला), an honorific plural ां / ं
# (पाटीलांनी, जोशींना): these "links" occur only before a suffix, never alone (रामा is another name).
# Kinship and honorific words (ताई, दादा, राव, ...) are written joined to first names too
# (प्रियाताई, सुनीलभाऊ) and may take postpositions themselves (प्रियाताईंना).
_MR_SUFFIXES = (
    # dative / accusative
    "ला", "ना", "स", "ते",
    # ergative / instrumental / sociative
    "ने", "नी", "नं", "शी", "शीं",
    # genitive
    "चा", "ची", "चे", "च्या", "चं", "चीं",
    # locative and what is built on it
    "त", "तून", "तील", "तला", "तली", "तले", "तल्या", "मध्ये", "मधे", "मधून", "मधील", "मधला", "मधली",
    "मधले", "मधल्या", "वर", "वरून", "वरचा", "वरची", "वरचे", "वरच्या", "खाली", "खालचा",
    # ablative / direction
    "हून", "ून", "पासून", "कडून", "कडे", "कडं", "कडील", "कडचा", "कडची", "कडचे", "कडच्या",
    "पर्यंत", "पुढे", "मागे", "समोर", "जवळ", "जवळचा", "जवळची", "जवळचे",
    # benefactive, comitative, comparative, others
    "साठी", "करिता", "करता", "बरोबर", "सोबत", "संगे", "सह", "सहित", "पेक्षा", "सारखा", "सारखी",
    "सारखे", "सारख्या", "प्रमाणे", "विषयी", "बद्दल", "शिवाय", "खेरीज", "विना", "ऐवजी", "मुळे", "तर्फे",
    "कडनं", "प्रति",
    # clitics: also, only/emphatic, even
    "ही", "च", "सुद्धा", "देखील",
    # honorifics and kinship terms written joined to names
    "जी", "ताई", "दादा", "राव", "भाऊ", "साहेब", "साहेबां", "बाई", "काका", "काकू", "मावशी", "आजी",
    "आजोबा", "मामा", "अक्का", "आण्णा", "अण्णा", "पंत", "बापू",
)
_MR_LINKS = ("ा", "ां", "ं")


@dataclass(frozen=True)
class LanguageAffixes:
    """The affixes one language attaches to names (strings in the language's script)."""

    suffixes: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    links: tuple[str, ...] = field(default=())   # stem endings between a name and a suffix, never alone
    note: str = ""

    def merged(self, other: "LanguageAffixes") -> "LanguageAffixes":
        """These rules plus ``other``'s (the config adds to the shipped defaults, never removes)."""
        def union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(dict.fromkeys(a + b))
        return LanguageAffixes(union(self.suffixes, other.suffixes), union(self.prefixes, other.prefixes),
                               union(self.links, other.links), self.note or other.note)


DEFAULT_AFFIXES: dict[str, LanguageAffixes] = {
    "mr": LanguageAffixes(_MR_SUFFIXES, (), _MR_LINKS,
                          "postpositions, clitics and honorifics written joined to the name"),
    "de": LanguageAffixes(("s",), (), (), "genitive -s (Ottilies Idee)"),
    "en": LanguageAffixes(("s",), (), (), "possessive or plural without apostrophe (the Okellos)"),
    "he": LanguageAffixes((), tuple("והבלמשכ"), (), "proclitics ו ה ב ל מ ש כ, up to three stacked"),
    "sw": LanguageAffixes((), (), (), "names stand alone (kwa Neema); elision n'Neema is a boundary"),
    "lg": LanguageAffixes((), (), (), "names stand alone; elision (n'Okello, ew'Okello) is a boundary"),
}


def language_rules(config_affixes: dict | None) -> dict[str, LanguageAffixes]:
    """The shipped defaults extended by the config's ``affixes:`` (language -> suffixes/prefixes/links)."""
    rules = dict(DEFAULT_AFFIXES)
    for lang, spec in (config_affixes or {}).items():
        spec = spec or {}
        extra = LanguageAffixes(*(tuple(unicodedata.normalize("NFC", s) for s in spec.get(k, []) if s)
                                  for k in ("suffixes", "prefixes", "links")))
        rules[lang] = rules[lang].merged(extra) if lang in rules else extra
    return rules


def script_of(ch: str) -> str:
    """The Unicode script of a character, from its name (LATIN, DEVANAGARI, HEBREW, ...)."""
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else ""


def has_case(ch: str) -> bool:
    """Whether a letter's script distinguishes upper and lower case (Latin does, Devanagari does not)."""
    return ch.lower() != ch.upper() or ch.lower() != ch.title()
