"""Adoption on a Django project we did not write, following docs/adopting.md and nothing else."""
