"""A workspace's assistants.

- `service`: list, read, create, update, delete (admins and owners only).
- `templates`: the industry templates a new assistant starts from.
"""
