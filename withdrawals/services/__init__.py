"""Writes about withdrawals, one module per flow."""
