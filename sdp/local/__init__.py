"""The platform as local processes on loopback (tests, and a quick one-host stack)."""
