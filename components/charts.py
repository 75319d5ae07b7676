"""Charts drawn with Reflex's recharts components, in the theme's colours (light and dark)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import reflex as rx


def bar_chart(data: Any, x_key: str, bars: Sequence[tuple[str, str, str]], *,
              stacked: bool = False, height: int = 220, **props: Any) -> rx.Component:
    """Bars per `x_key` item; `bars` are (data key, legend name, Radix colour name)."""
    return rx.recharts.bar_chart(
        rx.recharts.cartesian_grid(stroke_dasharray="3 3", stroke=rx.color("gray", 5)),
        *[rx.recharts.bar(data_key=key, name=name, fill=rx.color(colour, 9),
                          stack_id="all" if stacked else None, is_animation_active=False)
          for key, name, colour in bars],
        rx.recharts.x_axis(data_key=x_key, stroke=rx.color("gray", 9), font_size=12),
        rx.recharts.y_axis(stroke=rx.color("gray", 9), font_size=12, width=48),
        rx.recharts.graphing_tooltip(),
        rx.recharts.legend(),
        data=data, width="100%", height=height, **props,
    )
