"""Who may do what: accounts, sessions, workspaces, members.

- `auth`: sign-up, e-mail confirmation, login, sessions, password reset.
- `team`: members and invitations of a workspace, with their roles.
- `access_events`: `UserAccessChanged`, so open live views learn that access ended.
- `platform_admin`: accounts across workspaces, blocking, the global audit log.
- `expiry`: purging sessions and one-time tokens that can never be used again.
"""
