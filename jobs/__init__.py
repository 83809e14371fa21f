"""Scheduled jobs: plain functions taking ``now``, registered in one place with stable ids."""
