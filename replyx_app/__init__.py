"""ReplyX web app, launcher and CLI. Kept import-free so the bootstrap runs on a bare Python."""
