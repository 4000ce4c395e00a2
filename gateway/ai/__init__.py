"""AI-suggested replies: retrieve passages, draft a reply, wait for an operator's approval (req. 15)."""
