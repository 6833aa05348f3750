"""Engage: the official account as a business channel (messages, keywords, menu, QR scenes, notifications)."""
