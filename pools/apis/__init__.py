"""Pool API views, one module per area: the partner's pools, and energy reads and actions."""
