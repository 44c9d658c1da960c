"""Networks, losses and their levels (chance, floor), metrics, the pitfall check and unit health.
Imports from core and data."""
