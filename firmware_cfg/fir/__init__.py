"""Data: AD9361 FIR (.ftr) files shipped with the profiles (a package so that installs include them)."""
