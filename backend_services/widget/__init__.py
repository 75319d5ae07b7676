"""The website widget: per-assistant settings (`settings`) and anonymous visitors (`visitors`).

The loader script (assets/widget.js) and the HTTP surface (replyx_app/api/widget_routes.py)
sit on top of these; the widget page and the conversations domain verify visitor tokens
with `visitors.verify_token`.
"""
