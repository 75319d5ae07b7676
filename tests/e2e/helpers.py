"""Shared steps for browser tests: create accounts through the services, sign in via the UI."""

from __future__ import annotations

import secrets
from typing import Any

from backend_services import auth
from backend_services.models import Role

PASSWORD = "Correct-horse-9"


def unique_email(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}@example.com"


async def make_workspace_owner(prefix: str = "owner") -> tuple[str, int]:
    """A confirmed owner with their own workspace; returns (email, workspace_id)."""
    email = unique_email(prefix)
    result = await auth.signup(email=email, password=PASSWORD, name=prefix.title(),
                               workspace_name=f"{prefix} workspace")
    await auth.create_user(email=email, password=PASSWORD, name=prefix.title(),
                           workspace_id=None, confirmed=True)
    return email, result.workspace_id


async def add_member(workspace_id: int, role: Role, prefix: str = "member") -> str:
    email = unique_email(prefix)
    await auth.create_user(email=email, password=PASSWORD, name=prefix.title(),
                           workspace_id=workspace_id, role=role)
    return email


async def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    await page.goto("/login")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("#login-submit")
    await page.wait_for_url("**/dashboard/")
    await page.get_by_text("Welcome back").wait_for()
