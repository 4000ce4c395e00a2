"""The DM inbox: conversations per contact, newest first, with unread counts."""
