"""The metering service."""
