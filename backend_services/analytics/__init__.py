"""Analytics: what happened in a workspace's conversations over a period (issue 15)."""
