"""Prefect flows and their thin tasks: the only package that composes the others."""

from flows.settings import apply_prefect_environment

apply_prefect_environment()
