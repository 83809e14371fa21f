"""Accounts: registration, login and logout, and the access rules every blueprint uses."""
