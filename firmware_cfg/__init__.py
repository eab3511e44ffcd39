"""firmware_cfg: device profiles (YAML), AD9361 FIR (.ftr) files and the schema that validates them.

Device specifics are data: backends read ranges, channel names, default URIs and rates from here."""
