"""Getting a new workspace from nothing to a live assistant: the Overview's checklist."""
