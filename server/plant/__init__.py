"""The embedded demo plant: a simulated trading system with state that commands change."""
