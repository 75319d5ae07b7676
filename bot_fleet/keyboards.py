"""Every inline keyboard a bot shows, and the reading of its button data.

Today that is the star rating after a conversation is closed. A button's data is only a
request from the chat: whoever reads it checks it against the chat's own dialog."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

RATE_PREFIX = "rate:"
STARS = range(1, 6)


@dataclass(frozen=True)
class RatingPress:
    dialog_id: int
    score: int


def rating_keyboard(dialog_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="★" * n, callback_data=f"{RATE_PREFIX}{dialog_id}:{n}")
        for n in STARS
    ]])


def read_rating(data: str | None) -> RatingPress | None:
    """`rate:<dialog>:<score>` from a rating button; None for anything else (a forged or
    stale callback is answered and ignored, never an error)."""
    if not data or not data.startswith(RATE_PREFIX):
        return None
    dialog_text, _, score_text = data[len(RATE_PREFIX):].partition(":")
    if not dialog_text.isdigit() or not score_text.isdigit():
        return None
    return RatingPress(int(dialog_text), int(score_text))
