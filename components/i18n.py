"""Texts of the dashboard, console and admin panel in the reader's language.

`t("nav.dashboard")` is a client-side lookup in the tab's LanguageState.texts with the
English text (from the catalogue, `ui.` + key) written into the page as the fallback, so
a page reads English until its language is known and switches without a page load. A key
missing from the English catalogue fails when the pages compile, not in front of a user.
"""

from __future__ import annotations

import json
from typing import Any

import reflex as rx
from reflex.vars.base import Var, VarData

from backend_services.core import catalogue
from state.language import LanguageState


def english(key: str) -> str:
    return catalogue.text(catalogue.DEFAULT_LANGUAGE, f"ui.{key}")


def t(key: str, **values: str | Var[str] | Var[int]) -> Var[str]:
    """The text `key`; `{name}` placeholders are filled from `values` (text or state vars)."""
    texts: Var[dict[str, str]] = LanguageState.texts
    expr = f"({texts}?.[{json.dumps(key)}] ?? {json.dumps(english(key))})"
    data = [texts._get_all_var_data()]
    for name, value in values.items():
        filled = value if isinstance(value, Var) else rx.Var.create(str(value))
        expr = f"{expr}.replaceAll({json.dumps('{' + name + '}')}, String({filled}))"
        data.append(filled._get_all_var_data())
    return Var(_js_expr=expr, _var_type=str, _var_data=VarData.merge(*data)).to(str)


def route_key(path: str) -> str:
    """The key stem of a page: "/admin/system" → "admin.system"."""
    return path.strip("/").replace("/", ".").replace("-", "_") or "root"


def language_switch(**props: object) -> rx.Component:
    """English / Русский, in the header and on the sign-in pages."""
    return rx.select.root(
        rx.select.trigger(aria_label="Language / Язык", id="language-switch"),
        rx.select.content(rx.select.item("English", value="en"),
                          rx.select.item("Русский", value="ru")),
        value=rx.cond(LanguageState.lang == "", "en", LanguageState.lang),
        on_change=LanguageState.choose, size="1", **props,
    )


def t_choice(prefix: str, value: Var[str] | Var[Any]) -> Var[str]:
    """The text of a value chosen at run time (a role, a status): `prefix.<value>`, the
    value itself when the catalogue has no such key."""
    texts: Var[dict[str, str]] = LanguageState.texts
    stem = f"ui.{prefix}."
    fallbacks = {k[len(stem):]: v for k, v in catalogue.messages(
        catalogue.DEFAULT_LANGUAGE).items() if k.startswith(stem)}
    key = f"({json.dumps(prefix + '.')} + {value})"
    expr = (f"({texts}?.[{key}] ?? {json.dumps(fallbacks)}[{value}] ?? String({value}))")
    return Var(_js_expr=expr, _var_type=str, _var_data=VarData.merge(
        texts._get_all_var_data(), value._get_all_var_data())).to(str)
