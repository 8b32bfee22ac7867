"""Evidence before a page: the located statements that can justify a P1 or P2.

A page must point at who does what to whom: a violent act aimed at someone other than the writer,
with the writer's intent, plan, wish or condition ("i'll hurt every one of you if i have to",
"i hope he dies", "someone should shoot them", "don't come to school friday", "bringing my dad's
gun to lincoln"); or the writer's own wish or plan to die or self-harm ("hope i don't wake up",
"gonna take all my pills tonight"). The same statement made about another person ("he said he's
bringing a gun") is a report: a post is verified first, a tip is what tip lines exist for.

Framing softens only what it scopes over: negation the clause it stands in, before the statement;
quotes, fiction, games, music, news, jokes and idioms the sentence. A condition never softens:
a conditional threat with a target is substantive until assessed. Pure: text in, spans out.
The word lists are config/evidence.yaml, frozen into each trained model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pipeline.nlp.prefilter import LiteralGate, either, required

SCHOOL_MARK = "§"  # school names and school places, same length as the words they replace
# a full stop after a title ("ms. delgado") does not end the sentence
# ...and a colon before the writer's own words ends one: "to whoever reported my post: i know who you are"
# The title test looks back from after the first mark, not before it: a pattern that opens with a
# lookbehind is tried at every character, one that opens with a character class only where one
# stands (7x faster, the same bounds: tests/unit/test_evidence_prefilter.py).
SENTENCE = re.compile(r"[.!?;\n](?<!\bmr.)(?<!\bms.)(?<!\bmrs.)(?<!\bdr.)(?<!\bst.)[.!?;\n]*"
                      r"|:\s+(?=i\b|i'?m\b|im\b)|\s(?:lol|lmao|lmfao|jk)(?=\s|$)")
CLAUSE = re.compile(r",|\bbut\b|\bthough\b|\bbecause\b|\bcuz\b")
NEGATION = re.compile(r"\b(?:not|never|no way|don'?t|dont|do not|won'?t|wont|wouldn'?t|wouldnt|would not|"
                      r"ain'?t|aint|isn'?t|can'?t|cant|cannot|nobody|no one|didn'?t|didnt)\b")
# "i'm not saying i'll…" and "i don't care, i'll…" are hedges, not negations of what follows.
NOT_NEGATING = re.compile(r"\b(?:not saying|not sayin|don'?t care|dont care|not gonna lie|not going to lie|"
                          r"don'?t play|dont play|don'?t test|dont test|don'?t get it twisted|dont get it twisted|"
                          r"not playing|not joking|not kidding|no joke|don'?t think i won'?t|dont think i wont|"
                          # "nobody is going to stop me from…", "nobody would miss me": not negations of what follows
                          r"(?:nobody|no one|nothing|ain'?t nobody|aint nobody)\s+(?:is\s+|'?s\s+)?(?:gonna|going to|will|can|could)\s+stop me|"
                          r"stop me from|won'?t stop until|wont stop until|(?:won'?t|wont|can'?t|cant|didn'?t|didnt)\s+stop\s+me|not a game|not a drill|not bluffing|not a threat|"
                          r"not even joking|not even kidding|(?:nobody|no one)\s+(?:would|will|even|would even|will even|would ever)|"
                          r"not a game reference|this isn'?t a game|not gonna miss|not going to miss|won'?t miss|wont miss|"
                          r"not missing)\b")
CONDITION = re.compile(r"\b(?:if|unless|when|once|until|or else)\b")
# Framing that scopes over a sentence, named like the context cues of config/cues.yaml.
RETRACTABLE = ("quote_report", "news", "fiction", "game", "music", "laugh", "idiom", "hypothetical", "sports")
POST_SPAN = 280  # a post this short is one statement: its sentences can complete each other
SENTENCE_FRAMES = ("quote_report", "news", "fiction", "game", "music", "laugh", "idiom", "hypothetical",
                   "counter_speech", "sports")


@dataclass(frozen=True)
class Evidence:
    kind: str          # violence | self_harm
    form: str          # intent, wish, call, deserve, imperative, passive, warning, doom, carry, self_plan, self_wish
    speaker: str       # writer | other (a report of someone else's words)
    severe: bool       # a lethal or armed act (a fight is not)
    start: int         # offsets into the normalised text
    end: int
    softened: tuple[str, ...] = ()  # frames that scope over it: negation, fiction, game, ...

    @property
    def stands(self) -> bool:
        """A statement nothing softens, made by the writer."""
        return not self.softened and self.speaker == "writer"


def _alt(phrases: Iterable[str]) -> str:
    """One regex alternative of whole phrases, longest first; apostrophes optional, any spacing."""
    out = []
    for p in sorted({str(p).lower().strip() for p in phrases if str(p).strip()}, key=len, reverse=True):
        body = r"\s+".join(re.escape(w) for w in p.split())
        out.append(body.replace("'", "['’]?").replace("’", "['’]?").replace(re.escape(SCHOOL_MARK), f"{SCHOOL_MARK}+"))
    return "(?:" + "|".join(out) + ")" if out else r"(?!x)x"


def _verbs(phrases: Iterable[str]) -> str:
    """Like ``_alt``, with the first word inflected: "taking out", "shooting up", "gunned down"."""
    out = []
    for p in sorted({str(p).lower().strip() for p in phrases if str(p).strip()}, key=len, reverse=True):
        first, *rest = p.split()
        stem = first[:-1] if first.endswith("e") else first
        forms = {re.escape(first), rf"{re.escape(stem)}(?:ing|in|ed|es|s)", rf"{re.escape(first)}(?:s|d)"}
        if first[-1] in "bdgklmnprtz":
            forms.add(rf"{re.escape(first)}{first[-1]}(?:ing|ed|in)")
        head = "(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")"
        out.append(r"\s+".join([head, *(re.escape(w) for w in rest)]).replace("'", "['’]?"))
    return "(?:" + "|".join(out) + ")" if out else r"(?!x)x"


W = r"[\w'’§@-]+"
# A single word standing for a person ("hope trump dies"), but not a function word ("want to die").
NAME = r"(?!(?:to|it|i|me|my|we|us|our|this|that|the|a|an|myself|himself|herself|themselves|themself|yourself|itself|ourselves|your|ur|his|her|their|our|its|on|in|at|up|down|off|out|for|with|by|from|of|and|or|but|back|next|some|all|more|time|them|em|him|us|up|bottles|shots|into|onto|again|tonight|tomorrow|deeper|more|when|where|what|why|how|who|if|then|there|here|now|today|dis|dat|so|just|really|still|literally|lowkey|kinda|everything|something|nothing|phone|battery|game|show|team|plant|car|day|week|year)(?![\w'’]))(?=[\w'’@-]*[a-z])[\w'’@-]+"
OTHERS_WISH = re.compile(r"\b(?:everybody|everyone|people|nobody|who|y'?all|u|you)\s+(?:just\s+|really\s+)?$")
YOURSELF = r"your\s?self|urself|ur\s?self|yourselves|yaself|yoself"
# "go unalive urself", "unalive yourself loser": said to someone else, which is bullying
TOLD_TO_YOU_AFTER = re.compile(rf"\s*(?:{YOURSELF})\b")
# "go unalive urself", "shoot myself": an act on oneself is no act aimed at someone else
REFLEXIVE = rf"(?!\s+(?:{YOURSELF}|myself|my\s?self|himself|herself|themselves|themself)\b)"
# the writer right before the statement, or wishing someone would do it ("wish someone would bring a gun")
WRITER_JUST_BEFORE = re.compile(r"(?:\b(?:i|i'?m|im|i'?ll|ima|imma|we|we'?re)\s+|\b(?:wish|hope|pray)\s+(?:that\s+)?"
                                r"(?:someone|somebody|anyone|anybody)\s+(?:would\s+|will\s+|could\s+)?)$")
FIRST_PERSON = re.compile(r"(?:i|i'?m|im|i'?ll|ill|i'?d|ima|imma|i'?ma|we|we'?re|we'?ll)\b")
SOMEONE = r"(?:someone|somebody|anyone|anybody|one of y'?all)"  # the ones a call asks to do it
GAP = rf"(?:{W}\s+){{0,3}}?"
SHORT_GAP = rf"(?:{W}\s+){{0,2}}?"
# a quote mark opens a statement ("'everyone dies 12/4' on the wall"); only a contraction joins words
L, R = r"(?<![\w§@])(?<!\w['’])", r"(?![\w§])(?!['’]\w)"
# "stabbing", "popped", "cutting": inflections, doubled consonant included
INFLECTION = r"(?:s|es|d|ed|ing|in|[bdgklmnprtz](?:ed|ing|in))?"
# people named by role or title, and groups named by who they are ("every kid who laughed")
TITLED = r"(?:mr|mrs|ms|miss|dr|coach|principal|officer|deputy)\.?\s+[\w'’-]+"
# school staff by role, whoever's they are ("their teacher", "dat teacher")
ROLE = (r"(?:my|his|her|their|our|the|a|that|this|dat|da)\s+(?:teacher|principal|vice principal|coach|counselor|sub|"
        r"substitute|bus driver|sro|dean|nurse|librarian|janitor|security guard)s?")
PEOPLE_GROUP = r"(?:every(?:\s+single|\s+last)?\s+\w+|(?:his|her|their|your|ur)\s+whole\s+\w+|the\s+whole\s+\w+|any\s+\w+\s+who|all\s+(?:the|those|these|of\s+the)\s+\w+|the\s+\w+\s+who|the\s+\w+s\s+(?:that|who)|whoever|anyone\s+who|anybody\s+who)"
GROUP = rf"(?:{PEOPLE_GROUP}|(?:the\s+)?§+(?:\s+\w+)?)"  # people, or a school and what is in it


class EvidenceFinder:
    def __init__(self, grammar: Mapping[str, object]):
        g = {k: v for k, v in grammar.items()}

        def words(key: str) -> str:
            return _alt(g.get(key, []))
        acts = g.get("acts", {}) or {}
        severe, minor = _verbs(acts.get("severe", [])), _verbs(acts.get("minor", []))
        targets, victims = _alt([*g.get("targets", []), SCHOOL_MARK]), words('victims')
        errand = words('errands')
        # "hang with you", "shooting with the crew", "rock out": company, not violence
        benign = words('benign_objects')
        # "gonna be poppin", "it'll be killer": after "be" an act word is an adjective
        # after "get", "got": the passive ("the cougars are gonna get slaughtered")
        not_adjective = r"(?:(?<!\bbe\s)|(?=\w+(?:ing|ed)\b))(?<!\bget\s)(?<!\bgot\s)(?<!\bgetting\s)"
        act = rf"{not_adjective}(?P<act>(?P<severe>{severe})|{minor}){INFLECTION}(?!\s+(?:with|wit|out with|around|out\b)){R}(?!\s+{benign}{R}){REFLEXIVE}"
        not_errand = rf"(?!\s+(?:a|an|me|us)?\s*{errand}{R})"
        particle = r"(?:\s+(?:up|on|down|out|off|at))?"
        people = rf"{targets}|{TITLED}|{ROLE}|{GROUP}"
        target = rf"(?P<target>{people}){R}{not_errand}"
        # a first name after a lethal or armed act ("gonna stab tanner"), not after a fight word
        named = rf"(?:{SHORT_GAP}(?=(?:{people}){R}))?(?P<target>{people}|(?<=\s){NAME}){R}{not_errand}"
        lethal = rf"{not_adjective}(?P<act>(?P<severe>{severe})){INFLECTION}(?!\s+(?:with|wit|out with|around|out\b)){R}(?!\s+{benign}{R}){REFLEXIVE}"
        participles = words('harmed')
        self.violence = [
            ("intent", re.compile(rf"{L}(?P<intent>{words('intent')})\s+{GAP}{act}{particle}\s+{SHORT_GAP}{target}")),
            ("intent", re.compile(rf"{L}(?P<intent>{words('intent')})\s+{SHORT_GAP}{lethal}{particle}\s+{named}")),
            # the present progressive as a plan: "im stabbing him", "we're jumping her after school"
            ("intent", re.compile(rf"{L}(?P<intent>i'?m|i am|we'?re|we are)\s+(?:\w+ly\s+|just\s+|really\s+)?"
                                  rf"(?=\w+in[g']?{R}){act}{particle}\s+{named}")),
            # "ur getting stabbed", "ms hale is getting shot friday", "somebody's getting hurt"
            ("passive", re.compile(rf"{L}(?P<target>(?P<you>you|u|ur|you're|youre|y'?all|{GROUP}|the next \w+|the first \w+)|{people}|he|she|they|somebody|someone|"
                                   rf"somebody'?s|someone'?s|§+|{NAME})\s+(?:{W}\s+){{0,10}}?(?:is\s+|are\s+|'s\s+|'re\s+)?"
                                   rf"(?:getting|gets|gonna get|going to get|will get|finna get|bout to get|about to get|gon get)\s+"
                                   rf"(?P<severe>{participles})(?:\s+up)?{R}")),
            ("other_intent", re.compile(rf"{L}(?P<who>{words('third_person')})\s+{SHORT_GAP}"
                                        rf"(?:{words('third_person_intent')})\s+{GAP}{act}{particle}\s+{SHORT_GAP}{target}")),
            ("other_intent", re.compile(rf"{L}(?P<who>he|she|they)['’]?(?:ll|d)\s+{GAP}{act}{particle}\s+{SHORT_GAP}{named}")),
            # "you'll all see me on the news after friday": fame foretold, with a time or a school
            ("doom", re.compile(rf"{L}(?P<target>you|y'?all|you all|everyone|everybody|all of you|§+|the \w+|they)(?:['’]ll\s+|\s+(?:will\s+|gonna\s+)?)(?:all\s+)?"
                                rf"(?:{words('infamy')}){R}")),
            ("call", re.compile(rf"(?:^|[.!?,:\n]\s*)(?:someone|somebody|sombody|one of y'?all)\s+(?:please\s+|pls\s+|just\s+)?{act}{particle}\s+{named}")),
            # "i hope someone blows up central", "wish somebody would put a bullet in marcus"
            ("call", re.compile(rf"{L}(?:{words('wish_verbs')})\s+(?:that\s+)?{SOMEONE}\s+"
                                rf"(?:would\s+|will\s+|could\s+|finally\s+|just\s+)?{act}{particle}\s+{named}")),
            # "hope the dude who keyed my car gets his skull caved in": a relative clause may stand between
            ("wish", re.compile(rf"{L}(?:{words('wish_verbs')})\s+(?:that\s+)?(?:(?P<target>{victims}|{TITLED}|{NAME})\s+(?:{W}\s+){{0,3}}?|"
                                rf"(?P<group>{PEOPLE_GROUP})\s+(?:{W}\s+){{0,6}}?)(?P<severe>{words('wished')}){R}")),
            ("wish", re.compile(rf"{L}(?:i\s+)?(?:want|wish|need)\s+(?P<target>him|her|them|you|u|y'?all|all of them|"
                                rf"every one of them|that \w+|this \w+|my \w+)\s+(?P<severe>dead|gone for good|six feet under|in the ground|in a coffin){R}")),
            # "someone should…", "can somebody…": the modal is what makes it a call ("we beat them" is a score)
            ("call", re.compile(rf"{L}(?:(?:{words('callers')})\s+(?:{words('call_modals')})|"
                                rf"(?:can|will|could|would)\s+{SOMEONE})\s+{SHORT_GAP}"
                                rf"{act}{particle}\s+{SHORT_GAP}{target}")),
            ("deserve", re.compile(rf"{L}(?P<target>{victims}|{NAME})\s+(?:all\s+)?(?:{words('deserve')})\s+(?:all\s+)?"
                                   rf"(?P<severe>{words('deserved')}){R}")),
            ("deserve", re.compile(rf"{L}(?P<target>{victims}|{NAME})\s+(?:all\s+)?(?P<severe>{words('deserve_noun')}){R}")),
            ("imperative", re.compile(rf"(?:^|[,:'‘\"“]\s*|\b(?:just|pls|please|now)\s+)(?P<severe>{words('imperatives')})\s+"
                                      rf"(?P<target>them|him|her|em|'em|all of them|every one of them|every last one|those \w+|these \w+|them all|the lot|all the \w+|the \w+s|{TITLED}|{PEOPLE_GROUP}){R}{not_errand}(?!\s+(?:all\s+)?up{R})"  # "hang them all up": posters
                                      rf"(?!\s+(?:all\s+)?with\s+(?:kindness|success|love|a smile|kindness and)){R}")),
            ("passive", re.compile(rf"{L}(?P<target>you|u|ur|you're|youre|y'?all|he|she|they|he's|she's|they're|everyone|everybody|all of you)\s+"
                                   rf"(?:are\s+|is\s+|'re\s+|'s\s+|all\s+)?(?:gonna|going to|will|bout to|about to|finna|gon)\s+(?:all\s+)?"
                                   rf"(?:(?:get|be)\s+(?P<severe>shot|stabbed|killed|murdered|smoked|popped|blasted|bodied|dropped|hung|hanged)|"
                                   rf"(?:get|be)\s+(?:jumped|hurt|beat|beaten|fucked up|handled|dealt with|dealt wit)|(?P<die>die|bleed|pay)){R}")),
            # "the first deputy through my door dies": whoever comes next is the target
            ("passive", re.compile(rf"{L}(?P<target>(?P<you>the next \w+|the first \w+|whoever|anyone who|anybody who))\s+(?:{W}\s+){{0,6}}?"
                                   rf"(?P<severe>dies|is dead|gets it|eats a bullet|eats lead|catches a bullet){R}(?!\s+{benign}{R})")),
            ("deserve", re.compile(rf"{L}(?P<severe>{words('executions')})\s+(?:for|4)\s+(?P<target>{victims}|all|every|these|those|the|{NAME}){R}")),
            ("deserve", re.compile(rf"(?:^|[.!?\n]\s*)(?P<severe>{words('executions')})\s*(?:[!.]+|,\s*publicly|\s+now|\s+asap)?\s*(?:$|[\n]|(?<=[!.]))")),
            # "they should all be hanged for treason", "he needs to be thrown off a building": an execution called for
            ("deserve", re.compile(rf"{L}(?:{words('deserve')}|will|gonna|going to)\s+(?:all\s+|each\s+)?(?:be|get)\s+"
                                   rf"(?:publicly\s+|(?:{W}\s+){{1,3}}?and\s+)?(?P<severe>{words('executed')}){R}")),
            # "to the gallows with them", "the rope is waiting", "gallows for the whole council"
            ("deserve", re.compile(rf"{L}(?P<severe>{words('gallows')})\s+(?:(?:is|are)\s+)?(?:waiting|ready|coming|for\s+(?:all|every|the|these|those|him|her|them|each)){R}")),
            # ("to the rope" is also the gym's climbing rope)
            ("deserve", re.compile(rf"{L}(?:to|up to|off to|straight to)\s+(?P<severe>{_alt(p for p in g.get('gallows', []) if 'rope' not in p)}){R}")),
            ("call", re.compile(rf"{L}(?:{words('time_to')})\s+(?P<severe>{words('execute_verbs')})\s+(?:all\s+(?:of\s+)?)?(?P<target>{targets}|these \w+|those \w+|the \w+|{NAME}){R}")),
            ("wish", re.compile(rf"{L}(?:i'?ll|i will|i'?d|ill|i would|i can|happy to|glad to|gladly)\s+(?P<severe>{words('rope_offers')}){R}")),
            ("imperative", re.compile(rf"(?:^|[.!?\n]\s*)(?P<severe>hang|lynch|execute|behead)\s+(?P<target>(?!(?:out|up|in|on|there|tight|loose|around|onto|over|together|low|back|off|with|it|that|this|my|your|ur|the|a|an|ten|10)\b){NAME}){R}")),
            ("warning", re.compile(rf"{L}(?:{words('warn_verbs')})\s+(?:to\s+)?(?P<target>{words('warn_places')}){R}")),
            ("doom", re.compile(rf"{L}(?P<target>{words('doomed')})\s+(?:{words('doom')}){R}")),
            ("carry", re.compile(rf"{L}(?:{words('carry')})\s+{SHORT_GAP}(?P<severe>{words('weapons')})\s+"
                                 rf"(?:to|into|in|at|on)\s+(?P<target>(?:the\s+)?{SCHOOL_MARK}+|school|class|campus|the \w+|my \w+|his \w+|her \w+){R}")),
            # "i'm pulling out the glock", "bringing my knife" with a time or a school in the sentence
            ("carry", re.compile(rf"{L}(?:{words('carry')}|{words('draw')})\s+{SHORT_GAP}(?P<severe>{words('weapons')}){R}"
                                 rf"(?!\s+{benign}{R})(?P<needs>)")),
            # "he has a knife in his backpack"
            ("carry", re.compile(rf"{L}(?:has|have|got|keeps|keep|hid|hides|hiding|stashed)\s+{SHORT_GAP}(?P<severe>{words('weapons')})\s+"
                                 rf"(?:in|inside)\s+(?:his|her|my|their|the|a)\s+(?P<target>{words('hiding_places')}){R}")),
            # "going over there tonight with my AR to end him"
            ("intent", re.compile(rf"{L}with\s+(?:my|a|the|his|her|our)?\s*(?:{W}\s+)?(?:{words('weapons')})\s+to\s+{act}{particle}\s+{named}")),
            # "find her after school and beat her", "the day i shoot somebody"
            ("intent", re.compile(rf"{L}(?P<intent>{words('intent')})\s+(?:{W}\s+){{1,6}}?(?:and|then|n|an|&)\s+{act}{particle}\s+{named}")),
            ("intent", re.compile(rf"{L}(?:the day|thats when|that's when|and then|then)\s+i\s+{act}{particle}\s+{named}")),
            # "nobody is going to stop me from killing mr. hale", "they wont stop me using it on jake"
            ("intent", re.compile(rf"{L}stop\s+me(?P<mine>)\s+(?:from\s+)?{act}{particle}\s+{named}")),
            # "they should line up the whole team and shoot them one by one"
            ("call", re.compile(rf"{L}(?:{words('time_to')})\s+(?:{W}\s+){{1,8}}?(?:and|then|n|&)\s+{act}{particle}\s+{named}")),
        ]
        # the looser shape: act or weapon, forward pointer and target in one sentence, any order
        # a weapon alone is no act here ("law abiding gun owners get disarmed"): carry and the short-post shape take weapons
        # only unambiguous acts: "shooting with @user", "fresh cut", "let's end the year" are everyday; fights need a stricter shape
        unambiguous = _verbs(set(acts.get("severe", [])) - set(g.get("loose_exclude", [])))
        self.loose_act = re.compile(rf"{L}(?:(?P<outcome>{words('armed')}){R}|(?P<severe>{unambiguous}){INFLECTION}{R}"
                                    rf"(?!\s+(?:with|wit|out with|around|a text|me a|us a){R}))(?!\s+{benign}{R}){REFLEXIVE}")
        # the bare act (no pointer, pages only on a P1 score) may use "shoot", "execute", "hurt" too
        plain = _verbs(set(acts.get("severe", [])) - set(g.get("slang_acts", [])))
        self.plain_act = re.compile(rf"{L}(?<!\bthe\s)(?<!\ba\s)(?P<severe>{plain}){INFLECTION}{R}"  # "the shooting": a noun
                                    rf"(?!\s+(?:with|wit|out with|around|a text|me a|us a){R})(?!\s+{benign}{R}){REFLEXIVE}")
        self.loose_forward = re.compile(rf"{L}(?:{words('forward')}){R}")
        self.loose_target = re.compile(rf"{L}(?:{targets}|{victims}|{TITLED}|{ROLE}|{PEOPLE_GROUP}){R}")
        self.past = re.compile(rf"{L}(?:{words('past')}){R}")
        self_acts = words('self_acts')
        self.self_harm = [
            ("self_plan", re.compile(rf"{L}(?:{words('self_subject')})\s+{SHORT_GAP}(?:{words('self_intent')})\s+{SHORT_GAP}"
                                     rf"(?:{self_acts})\s+(?:{words('self_objects')}){R}")),
            ("self_wish", re.compile(rf"{L}(?:{words('self_phrases')}){R}")),
            # "im going to jump off the 9th street overpass after school"
            ("self_plan", re.compile(rf"{L}(?:gonna|going to|will|'ll|about to|bout to|finna|ready to|want to|wanna|planning to)\s+"
                                     rf"(?:jump|throw myself)\s+(?:off|from|in front of)\s+(?:the|a|an)\s+(?:{W}\s+){{0,3}}?"
                                     rf"(?:overpass|bridge|roof|building|cliff|parking garage|garage|train|bus|tower|dam){R}")),
            ("self_plan", re.compile(rf"{L}(?:gonna|going to|will|'ll|about to|bout to|finna|ready to|want to|wanna)\s+"
                                     rf"(?:take|swallow|down|chug)\s+(?:all|every|a bottle|the whole bottle|a handful)\s+(?:of\s+)?"
                                     rf"(?:{W}\s+){{0,2}}?(?:pills|meds|medication|xanax|tylenol|advil|sleeping pills|oxy|percs){R}")),
            # another person's plan to hurt themselves: a report (on a tip, what the counselor needs)
            ("self_plan", re.compile(rf"{L}(?P<other>{words('third_person')})\s+{SHORT_GAP}(?:{words('third_person_intent')})\s+"
                                     rf"{SHORT_GAP}(?:{self_acts}){INFLECTION}\s+(?:himself|herself|themselves|themself|his life|her life){R}")),
            # looser signs that need the self-harm score to agree before anyone is paged
            ("self_hint", re.compile(rf"{L}(?:{words('self_hints')}){R}")),
        ]
        # acts no game or match is ever scored in, and words that leave the game: play-talk frames cannot soften them
        self.never_play = re.compile(rf"{L}(?:{words('never_play')}){R}")
        # "not joking", "it's gonna be me", "i wasn't": the writer takes the frame back
        self.retraction = re.compile(rf"{L}(?:{words('retractions')}){R}")
        self.idiom_after = re.compile(rf"\s*(?:{words('self_idiom_after')}){R}")
        self.post_weapon = re.compile(rf"{L}(?:{words('weapons')}|{words('armed')}|{words('attacks')}){R}"
                                      rf"(?!\s+{benign}{R})")
        self.survival = re.compile(rf"{L}(?:{words('survival')}){R}")
        self.hit_list = re.compile(rf"{L}(?:{words('hit_lists')}){R}")
        # anything lethal or armed in the sentence makes the statement severe ("beat him till he stops breathing")
        self.severe_any = re.compile(rf"{L}(?:{severe}|{words('armed')}){INFLECTION}{R}(?!\s+{benign}{R})")
        self.everyday_purpose = re.compile(rf"{L}(?:{words('everyday_purposes')}){R}")
        self.everyday_self_cut = re.compile(rf"{L}(?:{words('everyday_self_cuts')}){R}")
        self.post_warning = re.compile(rf"{L}(?:{words('post_warnings')}){R}")
        self.third_person_before = re.compile(rf"{L}(?:{words('third_person')})\s+(?:\S+\s+){{0,2}}$")
        # Most posts hold none of the words any shape needs: one pass over the text says which
        # shapes can match at all (pipeline/nlp/prefilter.py), and the others never scan it.
        # The looser shape needs an act and a target (or a school) in one sentence.
        loose = (*either(required(self.loose_act), required(self.plain_act)),
                 *either(required(self.loose_target), (frozenset([SCHOOL_MARK]),)))
        self._gate = LiteralGate([*(required(p) for _, p in self.violence), *(required(p) for _, p in self.self_harm),
                                  loose, required(self.post_weapon)])

    def find(self, text: str, school_spans: Sequence[tuple[int, int]], frames: Mapping[str, Sequence[tuple[int, int]]]) -> list[Evidence]:
        """``text``: the normalised text; ``school_spans``: where schools and school places stand;
        ``frames``: where each context cue matched (quote_report, fiction, game, ...)."""
        pt = _pattern_text(text, school_spans)
        *may_match, loose_may, armed_may = self._gate.open(pt)
        if not any(may_match) and not loose_may and not armed_may:
            return []
        sentences = _Sentences(pt)
        found: list[Evidence] = []
        violence_may, self_harm_may = may_match[:len(self.violence)], may_match[len(self.violence):]
        for (form, pattern), may in zip(self.violence, violence_may):
            for m in pattern.finditer(pt) if may else ():
                if form == "passive" and not m.groupdict().get("you") and (
                        m.groupdict().get("die") or "die" not in m.groupdict()) and not _has_time_or_school(pt, m, sentences):
                    continue  # "you're gonna die", "he's getting killed out there" are banter until they name when or where
                if form in ("warning", "doom") and not _has_time_or_school(pt, m, sentences, need_time=form == "warning"):
                    continue
                if "needs" in m.groupdict() and not (_has_time_or_school(pt, m, sentences) or CONDITION.search(pt, *_containing(sentences, m.start()))):
                    continue  # "bringing my knife" pages with a when, a where or a condition
                if "mine" in m.groupdict():
                    speaker = "writer"  # "they won't stop me using it on jake": whoever speaks, "me" acts
                else:
                    speaker = "other" if form == "other_intent" or self._reported_subject(pt, m.start()) else "writer"
                severe = bool(m.groupdict().get("severe")) or form in ("warning", "doom", "carry")
                found.append(self._evidence("violence", form, speaker, severe, m, pt, sentences, frames))
        for (form, pattern), may in zip(self.self_harm, self_harm_may):
            for m in pattern.finditer(pt) if may else ():
                if self.idiom_after.match(pt, m.end()):
                    continue  # "i want to die of embarrassment", "i wanna die lol"
                if OTHERS_WISH.search(pt, max(0, m.start() - 16), m.start()):
                    continue  # "everybody wanna die happy": a saying about people, not the writer
                if TOLD_TO_YOU_AFTER.match(pt, m.end()):
                    continue
                if m.groupdict().get("other"):
                    speaker = "other"
                elif re.search(r"\bme\b", m.group(0)):
                    speaker = "writer"  # "someone please just end me": the writer is the one to die
                else:
                    speaker = "other" if self._reported_subject(pt, m.start()) else "writer"
                found.append(self._evidence("self_harm", form, speaker, True, m, pt, sentences, frames))
        taken = {(e.start, e.end) for e in found}
        for s, e in sentences if loose_may else ():
            if any(s <= a < e for a, _ in taken):
                continue  # a stricter shape (or the writer's own self-harm) already located the statement
            if not (self.loose_target.search(pt, s, e) or SCHOOL_MARK in pt[s:e]):
                continue
            # an outcome ("you're dead", "not making it home") points forward by itself; without a pointer
            # an act and a target are only "an act" ("shoot every one of them"), which pages only on a P1 score
            act = self.loose_act.search(pt, s, e)
            if act and (act.group("outcome") or self.loose_forward.search(pt, s, e)):
                form = "statement"
            else:
                act, form = self.plain_act.search(pt, s, e), "act"
            if not act:
                continue
            if act.groupdict().get("outcome"):
                speaker = "writer"  # "she's not making it home friday": the one named is the victim
            elif self.third_person_before.search(pt[max(s, act.start() - 40):act.start()]) and "i" not in pt[s:e].split():
                speaker = "other"
            else:
                speaker = "writer"
            found.append(self._evidence("violence", form, speaker, True,
                                        _Span(s, e, act), pt, sentences, frames))
        if armed_may and not any(e.kind == "violence" for e in found) and len(pt) <= POST_SPAN:
            found += self._armed_post(pt, frames)
        return _dedupe(found)

    def _armed_post(self, pt: str, frames) -> list[Evidence]:
        """A short post whose sentences together make the statement: a weapon, a school or a person,
        and a time, a countdown or a warning ("I have the rifle loaded. Monday 8am, senior lot. Stay home.")."""
        # a school, a named person or a list: "you" and "people" are in every post (cheapest first)
        if not (SCHOOL_MARK in pt or _SCHOOLISH.search(pt) or _TITLED.search(pt) or self.hit_list.search(pt)):
            return []
        if not (_TIME.search(pt) or self.post_warning.search(pt) or self.hit_list.search(pt)):
            return []
        weapon = self.post_weapon.search(pt)
        if not weapon:
            return []
        whole = [(0, len(pt))]
        speaker = "other" if self.third_person_before.search(pt[max(0, weapon.start() - 40):weapon.start()]) else "writer"
        return [self._evidence("violence", "statement", speaker, True, _Span(0, len(pt), weapon), pt, whole, frames)]

    def _reported_subject(self, pt: str, start: int) -> bool:
        if FIRST_PERSON.match(pt, start) or WRITER_JUST_BEFORE.search(pt, max(0, start - 40), start):
            return False  # "if they expel me i'm going to kill myself", "he's dead, i'm bringing my knife"
        return bool(self.third_person_before.search(pt[max(0, start - 40):start]))

    def _evidence(self, kind, form, speaker, severe, m, pt, sentences, frames) -> Evidence:
        start, end = m.span()
        sentence = _containing(sentences, start)
        clause_start = max([sentence[0], *(c.end() + sentence[0] for c in CLAUSE.finditer(pt[sentence[0]:start]))])
        # the words before the act: the clause before the statement, and the statement's own lead-in
        lead = pt[clause_start:start] + " " + (pt[start:_act_start(m)] if kind == "violence" else "")
        if CONDITION.search(lead):
            lead = " ".join(lead.split()[-4:])  # "if they don't drop the charges i'm bringing…": the negation is the condition's
        softened = []
        if NEGATION.search(_without(NOT_NEGATING, lead)) and not (isinstance(m, _Span) and self.survival.search(m.outcome)):
            softened.append("negation")  # "no one … is making it out alive": the negation is the threat
        whole = form in ("statement", "act")  # a sentence-wide match: every frame in the sentence scopes over it
        if whole and self.past.search(pt, sentence[0], sentence[1]):
            softened.append("past")  # "there was a fight by the bus loop yesterday": a report of what happened
        if kind == "violence" and self.everyday_purpose.search(pt, sentence[0], sentence[1]):
            softened.append("everyday")  # "bringing a knife to the bake sale to cut the sheet cakes"
        if kind == "self_harm" and "cut" in pt[start:end] and self.everyday_self_cut.search(pt, sentence[0], sentence[1]):
            softened.append("everyday")  # "fixed my bangs i cut myself"
        real = bool(self.never_play.search(pt, sentence[0], sentence[1]))
        retracted = bool(self.retraction.search(pt))
        condition = CONDITION.search(pt, sentence[0], start)
        for name in SENTENCE_FRAMES:
            if (real and name in ("game", "sports")) or (retracted and name in RETRACTABLE):
                continue
            for s, _ in frames.get(name, ()):
                if name == "quote_report" and condition and condition.start() < s < start:
                    continue  # "if he says one more word im stabbing him": the report is the condition's
                if sentence[0] <= s < sentence[1] and (whole or not (start <= s < end)):
                    softened.append(name)
                    break
        if kind == "violence" and not severe:
            severe = bool(self.severe_any.search(pt, sentence[0], sentence[1]))  # "beat him till he stops breathing"
        return Evidence(kind, form, speaker, severe, start, end, tuple(softened))


def _act_start(m) -> int:
    if isinstance(m, _Span):
        return m.act_start
    return m.start("act") if "act" in m.groupdict() and m.group("act") else m.start()


class _Span:
    """A sentence-wide match (the looser shape) presented like a regex match."""

    def __init__(self, start: int, end: int, act: re.Match):
        self._span, self.act_start = (start, end), act.start()
        self.outcome = act.groupdict().get("outcome") or ""

    def span(self) -> tuple[int, int]:
        return self._span

    def start(self) -> int:
        return self._span[0]

    def groupdict(self) -> dict:
        return {}


def _pattern_text(text: str, school_spans: Sequence[tuple[int, int]]) -> str:
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters change length when lowered: keep offsets
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    chars = list(lowered)
    for s, e in school_spans:
        chars[s:e] = SCHOOL_MARK * (e - s)
    return "".join(chars)


class _Sentences:
    """The text's sentence bounds, split at first use: most posts never match a shape."""

    def __init__(self, text: str):
        self._text, self._bounds = text, None

    def _all(self) -> list[tuple[int, int]]:
        if self._bounds is None:
            self._bounds = _bounds(SENTENCE, self._text)
        return self._bounds

    def __iter__(self):
        return iter(self._all())

    def __getitem__(self, i: int) -> tuple[int, int]:
        return self._all()[i]


def _bounds(splitter: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    out, last = [], 0
    for m in splitter.finditer(text):
        out.append((last, m.end()))
        last = m.end()
    out.append((last, len(text)))
    return out


def _containing(bounds: list[tuple[int, int]], pos: int) -> tuple[int, int]:
    for s, e in bounds:
        if s <= pos < e:
            return s, e
    return bounds[-1]


def _without(pattern: re.Pattern[str], text: str) -> str:
    return pattern.sub(" ", text)


_TIME = re.compile(r"\b(?:tomorrow|tmrw|tmr|tonight|today|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
                   r"next week|this week|period|lunch|after school|before school|\d{1,2}/\d{1,2}|\d{1,2}(?::\d{2})?\s*(?:am|pm)|\d{1,2}:\d{2}|"
                   r"\d+\s+(?:more\s+)?(?:days|hours)|"
                   r"this morning|in the morning|at noon|the assembly|pep rally|homecoming|prom|graduation)\b")


_TITLED = re.compile(TITLED)
_SCHOOLISH = re.compile(r"\b(?:school|class|teacher|coach|principal|bus|hallway|locker|cafeteria|campus|period)\b")


def _has_time_or_school(pt: str, m: re.Match, sentences, need_time: bool = False) -> bool:
    s, e = _containing(sentences, m.start())
    sentence = pt[s:e]
    timed = bool(_TIME.search(sentence))
    return timed if need_time else timed or SCHOOL_MARK in sentence or bool(_SCHOOLISH.search(sentence))


def _dedupe(found: list[Evidence]) -> list[Evidence]:
    """Overlapping matches of one kind are one statement: keep the longest."""
    out: list[Evidence] = []
    for ev in sorted(found, key=lambda e: (e.start, -(e.end - e.start))):
        if any(o.kind == ev.kind and o.start <= ev.start < o.end for o in out):
            continue
        out.append(ev)
    return out
