"""Withdrawals API views, one module per area: customers, credits, withdrawals, the energy
status, emergency withdrawals (`fields.py`: the input fields they share)."""
