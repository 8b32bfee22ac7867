"""A deterministic stream of posts shaped like a real public feed, written for threatline (no
text taken from anywhere): median about 20 words, a tail to 280 characters and a few 2,000-character
posts; links, @mentions, hashtags and emoji; about 5% not English; and, as in a real feed, a few
posts with violent or sad words in everyday senses and a rare real concern."""

from __future__ import annotations

import random

OPENERS = ["honestly", "ok so", "ngl", "lol", "wait", "update:", "reminder:", "not gonna lie", "psa:", "so yeah", "", "", "", ""]
SUBJECTS = ["the bus", "my sister", "coach", "the new album", "this weather", "the game last night", "my phone",
            "the cafeteria pizza", "our group project", "the season finale", "my dog", "the traffic on 5th",
            "the parent meeting", "this playlist", "the refs", "my manager", "the library", "this recipe"]
VERBS = ["is honestly", "was lowkey", "has been", "keeps being", "turned out", "is somehow", "was", "looks"]
COMPLEMENTS = ["amazing", "a whole mess", "so loud today", "better than expected", "late again", "the best part of my week",
               "not it", "kind of perfect", "way too expensive", "everything I needed", "a vibe", "chaos from start to finish"]
TAILS = ["can't wait for friday", "who else is going", "send help", "anyway back to homework", "see you there",
         "rate it out of 10", "tell me I'm wrong", "thanks for coming out everyone", "proud of these kids",
         "registration closes sunday", "doors open at 6", "bring a jacket", "we move", "that's all"]
EVERYDAY_VIOLENT = ["this chem test is killing me", "we're gonna destroy them in the finals", "that solo was fire, she killed it",
                    "I'm dead 💀 this video", "the new horror movie slaps, so much blood", "shooting hoops after practice",
                    "my phone battery is dying again", "we got crushed 5-0 lol", "ready to fight this cold"]
CONCERNS = ["if anyone touches my stuff again I'll hurt every one of you", "I don't want to be here anymore, nobody would notice",
            "someone is selling vapes behind the gym every day", "they keep posting that kid's pics and calling him names"]
EMOJI = ["😂", "💀", "🔥", "🙏", "😭", "❤️", "👀", "✨", "🏀", "🎉", "😤", "🤷"]
TAGS = ["#gameday", "#fridaynight", "#classof2027", "#tbt", "#mood", "#goteam", "#weekend", "#studying", "#music"]
# ~5% of a real district's feed is not English (families, exchange students, local news)
FOREIGN = [
    "hoy salimos temprano de la escuela, nos vemos en el parque a las cinco",
    "mi hermana ganó el partido de fútbol, estamos muy orgullosos de ella",
    "alguien sabe a qué hora abre la biblioteca el sábado",
    "la reunión de padres es el jueves en la cafetería, traigan sus preguntas",
    "quelqu'un sait si le bus passe encore devant la boulangerie ce matin",
    "on a fini le projet de sciences hier soir, enfin le week-end",
    "o jogo de ontem foi incrível, o time jogou muito bem até o final",
    "alguém tem o horário das aulas de reforço para a próxima semana",
    "morgen ist schulfrei, wir gehen mit der ganzen klasse ins museum",
    "ich habe meine hausaufgaben vergessen und der lehrer war nicht begeistert",
    "domani c'è la gita scolastica, non vedo l'ora di partire con tutti",
    "hôm nay trời mưa to quá, mọi người nhớ mang áo mưa khi đi học nhé",
    "salamat po sa lahat ng tumulong sa bake sale kahapon sa paaralan",
    "morgen hebben we de hele dag sportdag op het veld achter de school",
]


SYLLABLES = ["ka", "ro", "mi", "tel", "san", "dru", "vo", "ish", "len", "bar", "qui", "zo", "pha", "ne", "ty", "gor"]


def _rare(rng: random.Random) -> str:
    """A word the feed has rarely seen: names, places, typos, numbers. A real feed's vocabulary is
    open, so per-word caches miss; a benchmark on a closed vocabulary would flatter them."""
    roll = rng.random()
    if roll < 0.2:
        return f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d}"
    if roll < 0.3:
        return f"${rng.randint(2, 400)}"
    return "".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))).capitalize() if rng.random() < 0.5 else \
        "".join(rng.choices(SYLLABLES, k=rng.randint(2, 4)))


def _sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(COMPLEMENTS)}"


def post(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.05:
        text = rng.choice(FOREIGN)
    elif roll < 0.08:
        text = rng.choice(EVERYDAY_VIOLENT)
    elif roll < 0.085:
        text = rng.choice(CONCERNS)
    else:
        sentences = max(1, min(8, round(rng.lognormvariate(0.75, 0.5))))
        text = " ".join(filter(None, [rng.choice(OPENERS), ". ".join(_sentence(rng) for _ in range(sentences)) + ",", rng.choice(TAILS)]))
    if roll >= 0.05:  # names, places, numbers and typos in about every other sentence
        words = text.split(" ")
        for _ in range(rng.randint(0, 4)):
            words.insert(rng.randrange(len(words) + 1), _rare(rng))
        text = " ".join(words)
    if rng.random() < 0.3:
        text = f"@user{rng.randrange(1000)} {text}"
    if rng.random() < 0.25:
        text += f" https://t.co/{rng.randrange(16 ** 8):08x}"
    if rng.random() < 0.3:
        text += " " + " ".join(rng.sample(TAGS, rng.randint(1, 3)))
    if rng.random() < 0.4:
        text += " " + "".join(rng.choices(EMOJI, k=rng.randint(1, 3)))
    if rng.random() < 0.004:  # a pasted letter or a long thread
        text = " ".join([text] + [_sentence(rng) + "." for _ in range(110)])[:2000]
    return text[:280] if len(text) < 2000 else text


def posts(n: int, seed: int = 14) -> list[str]:
    rng = random.Random(seed)
    return [post(rng) for _ in range(n)]


if __name__ == "__main__":
    import statistics

    sample = posts(20_000)
    words = [len(p.split()) for p in sample]
    print(f"median words {statistics.median(words)}, p90 chars {sorted(map(len, sample))[18_000]}, "
          f"max chars {max(map(len, sample))}, 2000-char posts {sum(len(p) >= 1900 for p in sample)}")
