"""Audience: capture every chatbot interaction into one profile per user, and
act on those profiles as a mini CRM.

This package must not import ``connectors``, ``runtime`` or ``simulator``.
"""
