"""Who is acting. Every service call takes one; the workspace comes from the session only."""

from __future__ import annotations

from dataclasses import dataclass

from backend_services.core.errors import PermissionDenied
from backend_services.models import ROLE_RANK, Role


@dataclass(frozen=True)
class Principal:
    user_id: int
    workspace_id: int
    role: Role
    is_platform_admin: bool = False
    email: str = ""
    name: str = ""
    workspace_name: str = ""
    ip: str = ""
    session_key: str = ""  # SHA-256 of the session id: which login this is, not a secret
    language: str = "en"  # the person's language: their pages and their e-mails

    def has_role(self, minimum: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[minimum]

    def require(self, minimum: Role) -> None:
        if not self.has_role(minimum):
            raise PermissionDenied(f"This needs the {minimum.value} role or higher.")

    def require_platform_admin(self) -> None:
        if not self.is_platform_admin:
            raise PermissionDenied("Only platform administrators can do this.")
