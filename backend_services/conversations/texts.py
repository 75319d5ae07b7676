"""The fixed texts visitors see as `system` messages, in the assistant's language (en/ru)."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "connecting": "Connecting you to a person… Please stay in the chat.",
        "joined": "{name} joined the conversation.",
        "joined_anon": "An operator joined the conversation.",
        "left": "The operator left the conversation. The AI assistant will continue.",
        "transferred": "You have been transferred to {name}.",
        "transferred_anon": "You have been transferred to another operator.",
        "closed": "The conversation was closed.",
        "back_to_ai": "No one from our team is available right now. The AI assistant will "
                      "keep helping you.",
        "disabled": "Chat with our team is not available here. The AI assistant will keep "
                    "helping you.",
        "contact_thanks": "Thank you! We will get back to you at {email}.",
        "ai_saturated": "Our assistant is answering a lot of questions right now. Please "
                        "send yours again in a minute, or ask for a person.",
    },
    "ru": {
        "connecting": "Соединяем вас с сотрудником… Пожалуйста, не закрывайте чат.",
        "joined": "{name} подключился к разговору.",
        "joined_anon": "К разговору подключился оператор.",
        "left": "Оператор вышел из разговора. Дальше вам поможет AI-ассистент.",
        "transferred": "Разговор передан сотруднику: {name}.",
        "transferred_anon": "Разговор передан другому оператору.",
        "closed": "Разговор завершён.",
        "back_to_ai": "Сейчас никто из сотрудников не может ответить. AI-ассистент "
                      "продолжит вам помогать.",
        "disabled": "Связь с сотрудниками в этом чате недоступна. AI-ассистент продолжит "
                    "вам помогать.",
        "contact_thanks": "Спасибо! Мы ответим вам на {email}.",
        "ai_saturated": "Сейчас ассистенту задают очень много вопросов. Пожалуйста, "
                        "повторите свой через минуту или позовите сотрудника.",
    },
}


def text(language: str, key: str, **values: str) -> str:
    table = TEXTS.get(language, TEXTS["en"])
    return table[key].format(**values) if values else table[key]
