"""Data: device profile YAML files (a package so that installs include them)."""
